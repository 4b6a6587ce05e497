"""What the quality gates' checks say, in English and Chinese, side by side per code.

A run records each check's English ``detail`` (the CLI, the logs and older readers use it)
with the check's code and parameters, so that the runs page can say why a run was held back in
the page's language. Templates are :meth:`str.format` strings over the parameters; the English
one renders exactly the recorded detail.
"""

from __future__ import annotations

from typing import Final

from data.messages import Message

#: Every check a run is held to, by code.
GATE_MESSAGES: Final[dict[str, Message]] = {
    "output.present": Message(en="output {output} is present", zh="输出 {output} 已生成"),
    "output.missing": Message(
        en="output {output} is missing or empty", zh="输出 {output} 缺失或为空"
    ),
    "output.missing_values": Message(
        en="{output} has {missing} missing value(s)", zh="{output} 有 {missing} 个缺失值"
    ),
    "coverage.unchecked": Message(
        en="{kind}: {level}% intervals have no coverage to check",
        zh="{kind}：{level}% 区间没有可检验的覆盖率",
    ),
    "coverage.bounds": Message(
        en="{kind}: {level}% intervals cover {share} of backtest values "
        "(bounds {low:.0%}-{high:.0%})",
        zh="{kind}：{level}% 区间覆盖了 {share} 的回测值（界限 {low:.0%}-{high:.0%}）",
    ),
    "coverage.plausible": Message(
        en="{kind}: {level}% intervals cover {share} of the newest backtest values ({rows} "
        "held-out series, plausibly {least:.0%}-{most:.0%}; bounds {low:.0%}-{high:.0%})",
        zh="{kind}：{level}% 区间覆盖了最新一期回测值的 {share}（{rows} 个留出序列，合理范围 "
        "{least:.0%}-{most:.0%}；界限 {low:.0%}-{high:.0%}）",
    ),
    "coverage.pooled": Message(
        en="{kind}: {level}% intervals cover {share} of the newest backtest values ({rows} "
        "held-out series of {regions} regions, whose newest years are the same: plausibly "
        "{least:.0%}-{most:.0%} as for the largest region's {effective}; bounds "
        "{low:.0%}-{high:.0%})",
        zh="{kind}：{level}% 区间覆盖了最新一期回测值的 {share}（{regions} 个地区共 {rows} 个留出"
        "序列，其最新年份相同：按最大地区的 {effective} 个序列计，合理范围 {least:.0%}-{most:.0%}；"
        "界限 {low:.0%}-{high:.0%}）",
    ),
    "backtest.worsening": Message(
        en="{kind}: relative backtest error {new:.3f} vs champion run {champion}'s {old:.3f} "
        "(limit {limit:.3f})",
        zh="{kind}：相对回测误差为 {new:.3f}，已发布的运行 {champion} 为 {old:.3f}"
        "（上限 {limit:.3f}）",
    ),
    "balance.gate_off": Message(en="balance backtest gate is off", zh="供需平衡回测关卡已关闭"),
    "balance.skipped": Message(
        en="balance backtest skipped (no cut year scored): not gated",
        zh="供需平衡回测已跳过（没有可评分的截断年份）：不作把关",
    ),
    "balance.no_cells": Message(
        en="balance backtest had no scorable cells: not gated",
        zh="供需平衡回测没有可评分的单元：不作把关",
    ),
    "balance.scores": Message(
        en="balance backtest: rank correlation/macro-F1 {rank}/{f1} vs {compared} "
        "(cut years {cuts})",
        zh="供需平衡回测：排序相关/macro-F1 为 {rank}/{f1}，对比 {compared}（截断年份 {cuts}）",
    ),
    "balance.loses": Message(
        en="balance backtest: the balance loses to {lost} on both rank correlation and shortage "
        "flags: rank correlation/macro-F1 {rank}/{f1} vs {compared} (cut years {cuts})",
        zh="供需平衡回测：供需平衡在排序相关和短缺标记上都不如 {lost}：排序相关/macro-F1 为 "
        "{rank}/{f1}，对比 {compared}（截断年份 {cuts}）",
    ),
    "changes.first": Message(
        en="no served run to compare with (first run)",
        zh="没有已发布的运行可供比较（首次运行）",
    ),
    "changes.none": Message(
        en="no cell moved beyond the thresholds since run {champion} (served)",
        zh="自运行 {champion}（已发布）以来没有单元的变动超过阈值",
    ),
    "changes.not_few": Message(
        en="{moved} cell-year(s) moved since run {champion} (served), none explained by a few "
        "new rows",
        zh="自运行 {champion}（已发布）以来有 {moved} 个单元年份发生变动，均不是由少量新数据行"
        "造成的",
    ),
    "changes.held": Message(
        en="large moves since run {champion} (served) come from few new rows: {reasons} "
        "(kept for an admin's decision)",
        zh="自运行 {champion}（已发布）以来的较大变动来自少量新数据行：{reasons}（留待管理员决定）",
    ),
    "changes.gate_off": Message(
        en="large moves since run {champion} (served) come from few new rows: {reasons} "
        "(change gate is off)",
        zh="自运行 {champion}（已发布）以来的较大变动来自少量新数据行：{reasons}（变动关卡已关闭）",
    ),
}
