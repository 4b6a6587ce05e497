"""Every string the dashboard shows, in Chinese (the default) and English.

Planners at the commission read Chinese; English is there for visitors and for reviewing the
numbers with the modelling team. Keeping all text in one place makes a missing translation a
test failure rather than a page with a raw key on it. Field and programme names are catalog data
and come from the catalog in the chosen language, not from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from data.vocabulary import ALL_LEVELS, LEVEL_NAMES_ZH, LEVELS
from forecasting.scales import (
    NOTE_HIRES_BOUND,
    NOTE_LEVEL_ASSUMED,
    SOURCE_ADMIN,
    SOURCE_HIRES,
    SOURCE_PRIOR,
    SOURCE_RATES,
)

DEFAULT_LANG: Final = "zh"
LANGS: Final = ("zh", "en")
#: Cookie remembering the chosen language (set by ``?lang=``).
LANG_COOKIE: Final = "lang"

ZH: Final[dict[str, str]] = {
    "app_name": "人才供需预测",
    "app_subtitle": "重点产业人才供需平衡与招生计划建议",
    "switch_to": "English",
    "nav_overview": "总览",
    "nav_programmes": "专业与招生计划",
    "nav_uploads": "数据上传",
    "nav_runs": "训练运行",
    "nav_api": "API 文档",
    "logout": "退出",
    "signed_in_as": "当前用户",
    "run": "运行",
    "watermark": "数据截至",
    "data_up_to": "数据截至第 {n} 次上传",
    "run_date": "运行日期",
    "times_in": "时间均为{zone}时间",
    "no_run": "尚无发布的运行",
    "no_run_text": (
        "还没有可用的训练结果。管理员可通过 POST /api/v1/runs 或 `talentcast retrain` 训练。"
    ),
    "no_run_pending": "运行 {run} 正在排队，完成并通过质量检查后即发布其结果。",
    "no_run_running": "运行 {run} 正在训练，完成并通过质量检查后即发布其结果。",
    "no_run_failed": (
        "运行 {run} 失败：{error}。管理员修正数据或设置后，可通过 POST /api/v1/runs 重新训练。"
    ),
    "no_run_refused": (
        "运行 {run} 已完成，但未通过质量检查，因此未发布：{reason}。管理员可通过 "
        "POST /api/v1/runs/{run}/promote 或 `talentcast runs promote {run}` 仍予发布，"
        "或补充数据后重新训练。"
    ),
    "role_planner": "规划人员",
    "role_association": "行业协会",
    "role_admin": "管理员",
    # login
    "login_title": "登录",
    "login_intro": (
        "请粘贴您的 API 密钥（以 tc_ 开头，由管理员通过 `talentcast keys create` 发放）。"
    ),
    "login_key": "API 密钥",
    "login_submit": "登录",
    "login_error": "密钥无效或已被撤销，请检查后重试。",
    "login_expired": "登录表单已过期或来自其他网站，请重新登录。",
    "login_note": "密钥仅保存在本浏览器的 HttpOnly Cookie 中，退出即清除。",
    # common
    "level": "层次",
    "field": "领域",
    "year": "年份",
    "region": "地区",
    "region_total": "合计",
    "show": "显示",
    "all_fields": "全部领域",
    "any": "全部",
    "none_found": "没有符合条件的记录。",
    "history": "历史",
    "forecast_median": "预测中位数",
    "band_80": "80% 区间",
    "band_95": "95% 区间",
    "persons": "人",
    "back_overview": "返回总览",
    # overview
    "overview_title": "人才短缺总览",
    "heatmap_title": "各领域短缺概率（按预测年份）",
    "heatmap_note": "颜色表示该年需求超过供给（缺口 > 0）的概率；领域按规划顺序排列。",
    "heatmap_colorbar": "短缺概率",
    "ranking_title": "{year} 年短缺排名",
    "ranking_note": (
        "按预期短缺人数排序（各联合样本中 max(需求 − 供给, 0) 的平均值，缺口最大的 10% 样本按"
        "90% 分位计，以免少数极端需求样本决定排名），同时考虑短缺的规模与可能性；相同时按短缺"
        "概率。区间为 10%–90% 分位。"
    ),
    "ranking_note_probability": (
        "本次运行未保存预期短缺人数，故按短缺概率排序，其次按缺口占供给的比例；"
        "区间为 10%–90% 分位。"
    ),
    "shortfall_w90": "预期短缺人数",
    "city_title": "全市合计（所有领域）",
    "city_note": (
        "每格：净缺口中位数（需求 − 供给，一个领域的过剩抵消另一个领域的短缺）、"
        "10%–90% 区间和净短缺概率；各领域的短缺见上方排名。"
    ),
    "net_short": "净短缺概率 {p}",
    "field_actions": "该领域的专业、预警与招生建议",
    "urgent_title": "最需关注的专业",
    "urgent_note": "主领域为本领域的专业，按紧迫度排列（规则见专业页面）。",
    "rank": "排名",
    "supply_median": "供给（中位数）",
    "demand_median": "需求（中位数）",
    "gap_median": "缺口（中位数）",
    "gap_interval": "缺口 80% 区间",
    "p_shortage": "短缺概率",
    # field page
    "field_title": "{name}：供需预测",
    "tier": "类别",
    "supply": "供给（进入该领域的毕业生）",
    "demand": "需求",
    "gap": "缺口（需求 − 供给）",
    "chart_supply": "供给",
    "chart_demand": "需求",
    "chart_gap": "缺口",
    "zero_line": "供需平衡",
    "scale_title": "需求按人计",
    "scale_note": (
        "该领域平均每个真实岗位发布 {p50} 条招聘信息（80% 区间 {p10}–{p90}），依据：{source}。"
        "需求 = 招聘信息数 ÷ 该系数。"
    ),
    "scale_unknown": "本次运行未记录招聘信息与岗位的换算系数。",
    "drivers_title": "缺口构成（相对基准年，期望值）",
    "drivers_note": "缺口 = 基准年缺口 + 需求增长 + 调查修正 + 培养管道 + 比率变化（单位：人）。",
    "drivers_sum_note": "“全部层次”为各层次之和。",
    "base_year": "基准年",
    "base_gap": "基准年缺口",
    "demand_growth": "需求增长",
    "survey_adjustment": "调查修正",
    "cohort_pipeline": "培养管道",
    "rates": "就业比率",
    "programmes_feeding": "输送该领域人才的专业",
    "programmes_feeding_note": "权重为该专业毕业生对应本领域的比例；毕业生数为预测中位数。",
    "weight": "权重",
    "graduates_year": "{year} 年毕业生",
    "not_found_title": "未找到",
    "invalid_title": "无效的选择",
    "invalid_choice": "“{value}”不是有效的{what}。可选：{options}",
    "field_not_found": "没有代码为 “{code}” 的领域。",
    # programmes
    "programmes_title": "专业预警与招生计划建议",
    "filters": "筛选",
    "search": "搜索专业代码或名称",
    "apply": "应用",
    "reset": "清除",
    "export_csv": "导出 CSV",
    "export_xlsx": "导出 Excel",
    "warnings_title": "就业预警",
    "warnings_note": "依据教育部（2011）与天津市（2009）毕业去向落实率规定。",
    "rule": "规则",
    "action": "措施",
    "figures": "数据",
    "message": "说明",
    "placement_rates": "落实率 {previous} → {last}（阈值 {threshold}）",
    "placed_of": "{placed}/{graduates} 人落实",
    "recommendations_title": "{year} 年招生计划建议",
    "recommendations_note": (
        "在容量、年度调整幅度、各层次总量与就业规则约束下，使毕业年份的短缺与过剩期望成本最小。"
    ),
    "programme": "专业",
    "current_quota": "现有计划",
    "recommended_quota": "建议计划",
    "change": "变化",
    "quota_interval": "10%–90% 区间 · 约束",
    "reason": "理由",
    "n_rows": "共 {n} 条",
    "forbidden_title": "无法访问",
    "forbidden_role": "抱歉，此页面不对您的角色（{role}）开放。如需查看，请联系教育委员会规划处。",
    "forbidden_field": "抱歉，您只能查看本协会负责领域（{fields}）的数据。",
    # uploads
    "uploads_title": "数据上传",
    "upload_intro": (
        "文件按行逐一校验；只要有一处问题，整个文件都不会入库，并列出行号、列名和原因（行号与 "
        "Excel 一致，表头为第 1 行）。"
    ),
    "upload_kind": "数据类型",
    "upload_file": "文件（CSV、XLSX 或 JSON）",
    "upload_submit": "上传",
    "upload_sending": "正在上传并校验……",
    "upload_accepted": "已接收 {rows} 行，上传编号 #{id}。",
    "upload_duplicate": "相同内容此前已上传（编号 #{id}），未重复保存。",
    "upload_rejected": "文件被拒绝，未保存任何数据：",
    "upload_failed": "上传失败：",
    "upload_choose_file": "请选择一个文件。",
    "upload_not_allowed": "您的角色只能查看上传记录；上传数据由行业协会和管理员进行。",
    "problems_total": "共 {total} 处问题",
    "row": "行",
    "column": "列",
    "problem_reason": "原因",
    "expected_columns": "各数据类型的列",
    "required": "必填",
    "optional": "可选",
    "aliases": "可用表头",
    "recent_uploads": "最近的上传",
    "upload_id": "编号",
    "kind": "类型",
    "uploader": "上传者",
    "filename": "文件名",
    "rows": "行数",
    "replaced": "替换行数",
    "uploaded_at": "时间",
    "kind_enrollment": "招生",
    "kind_graduates": "毕业生",
    "kind_outcomes": "毕业去向",
    "kind_hiring": "招聘",
    "kind_demand_survey": "需求调查",
    "kind_catalog": "目录",
    # runs
    "runs_title": "训练运行",
    "runs_note": (
        "每次运行读取截至某次上传的数据（“数据截至”一栏为该次上传的编号）；成功的运行之一被"
        "发布，所有页面都基于它。"
    ),
    "status": "状态",
    "served": "发布中",
    "created": "创建",
    "started": "开始",
    "finished": "完成",
    "duration": "耗时",
    "timings": "各阶段耗时（秒）",
    "metrics": "主要指标",
    "error": "错误",
    "status_pending": "排队中",
    "status_running": "运行中",
    "status_succeeded": "成功",
    "status_failed": "失败",
    "held": "待管理员决定",
    "held_reason": "未自动发布的原因",
    "changes_since_served": "与当时发布的运行相比的变化",
    "metric_first_forecast_year": "首个预测年",
    "metric_horizon": "预测年数",
    "metric_cells_short_in_first_year": "首年短缺单元",
    "metric_programmes_warned": "预警专业",
    "metric_quotas_raised": "计划上调",
    "metric_quotas_cut": "计划下调",
    "metric_quotas_stopped": "停招",
    # api docs
    "api_title": "API 文档",
    "api_intro": (
        "接口说明由服务的 OpenAPI 文档生成（离线可用）。调用时发送 `Authorization: Bearer <密钥>`。"
    ),
    "api_openapi": "OpenAPI JSON",
    "api_parameters": "参数",
    "api_name": "名称",
    "api_in": "位置",
    "api_type": "类型",
    "api_required": "必填",
    "api_description": "说明",
    "api_request_body": "请求体",
    "api_responses": "响应",
    "api_examples": "示例",
    "api_schemas": "数据模型",
    "api_auth": "需要密钥",
    "api_default": "默认值",
    "api_details_en": "详细说明（英文）",
    "yes": "是",
    "no": "否",
    # actions, constraints, tiers
    "action_stop": "停止招生",
    "action_alternate_years": "隔年招生",
    "action_cap_at_placed": "不超过上年落实人数",
    "action_reduce": "调减计划",
    "action_no_new_points": "不得新增布点",
    "action_review_duplicates": "审查重复设置",
    "warning_filter": "预警",
    "warning_any": "有任何预警",
    "warning_none": "无预警",
    "sort_by": "排序",
    "urgency": "紧迫度",
    "urgency_note": (
        "默认按紧迫度排列：有就业预警的专业在前（按措施轻重：停止招生、隔年招生、不超过上年落实"
        "人数、调减计划、审查重复设置、不得新增布点），其余按建议调整的名额数从多到少。"
        "点击列标题可按该列排序。"
    ),
    "warnings_col": "预警",
    "own_effect": "本专业进入本领域的毕业生 现 → 建议",
    "own_effect_note": (
        "“本专业进入本领域的毕业生”为按现有和建议招生计划、在毕业年份进入主领域就业的预期人数"
        "（完成率 × 落实率 × 领域内就业率 × 本地就业率 × 对应权重，在各样本上求平均），"
        "只反映本专业自身的调整；领域缺口随之变化相反的人数。"
    ),
    "gap_effect": "领域缺口 {delta}",
    "after_horizon": "毕业在预测期之后",
    "fixed_by": "固定于：{bounds}",
    "page_of": "第 {n} / {pages} 页",
    "previous_page": "上一页",
    "stopped_since": "自 {year} 年起停招",
    "next_page": "下一页",
    "binding_capacity": "容量",
    "binding_change_up": "上调幅度",
    "binding_change_down": "下调幅度",
    "binding_rule": "就业规则",
    "binding_total_quota": "层次总量",
    "tier_national_strategic": "国家战略",
    "tier_urgent": "急需紧缺",
    "tier_social": "社会民生",
    "tier_urban": "城市运行",
    "tier_other": "其他",
    # run stages (the keys of a run's timings, forecasting.pipeline.STAGES)
    "stage_load": "读取数据",
    "stage_balance_backtest": "供需回测",
    "stage_supply": "供给预测",
    "stage_demand": "需求预测",
    "stage_balance": "供需平衡",
    "stage_warnings": "就业预警",
    "stage_quotas": "招生计划",
    "stage_changes": "变化归因",
    "stage_artifacts": "保存结果",
    # how a cut year of the balance backtest was done (a run's timings)
    "stage_status_replayed": "重新回放",
    "stage_status_reused": "复用",
    "stage_status_skipped": "跳过",
    # reason codes of a recommendation (forecasting.quotas.Reason)
    "reason_code_RULE_STOP": "就业规则要求停招",
    "reason_code_RULE_PAUSE": "就业规则要求隔年招生",
    "reason_code_RULE_LIMIT": "就业规则限定上限",
    "reason_code_SHORTAGE_EXPAND": "领域短缺，扩大招生",
    "reason_code_SURPLUS_REDUCE": "供过于求，调减招生",
    "reason_code_REBALANCE": "在总量内调配",
    "reason_code_UNCHANGED": "维持现有规模",
    "reason_code_AT_CHANGE_CAP": "已达年度调整幅度上限",
    "reason_code_AT_CAPACITY": "已达办学能力上限",
    "reason_code_STOPPED": "已停止招生",
    "level_all": "全部层次",
}

EN: Final[dict[str, str]] = {
    "app_name": "Talentcast",
    "app_subtitle": "Talent supply and demand in the priority industries, and quota advice",
    "switch_to": "中文",
    "nav_overview": "Overview",
    "nav_programmes": "Programmes & quotas",
    "nav_uploads": "Uploads",
    "nav_runs": "Runs",
    "nav_api": "API reference",
    "logout": "Sign out",
    "signed_in_as": "Signed in as",
    "run": "Run",
    "watermark": "Data up to",
    "data_up_to": "data up to upload #{n}",
    "run_date": "Run date",
    "times_in": "times in {zone}",
    "no_run": "No run is served yet",
    "no_run_text": (
        "There are no training results yet. An admin trains one with POST /api/v1/runs or "
        "`talentcast retrain`."
    ),
    "no_run_pending": (
        "Run {run} is waiting to be trained; its results are served when it finishes and "
        "passes the quality gates."
    ),
    "no_run_running": (
        "Run {run} is training; its results are served when it finishes and passes the "
        "quality gates."
    ),
    "no_run_failed": (
        "Run {run} failed: {error}. An admin corrects the data or settings and queues another "
        "with POST /api/v1/runs."
    ),
    "no_run_refused": (
        "Run {run} finished but was not served: a quality gate refused it ({reason}). An admin "
        "can serve it anyway with POST /api/v1/runs/{run}/promote or `talentcast runs promote "
        "{run}`, or send more data and retrain."
    ),
    "role_planner": "planner",
    "role_association": "industry association",
    "role_admin": "admin",
    "login_title": "Sign in",
    "login_intro": (
        "Paste your API key (it starts with tc_; the admin issues it with `talentcast keys "
        "create`)."
    ),
    "login_key": "API key",
    "login_submit": "Sign in",
    "login_error": "This key is unknown or has been revoked. Please check it and try again.",
    "login_expired": "The sign-in form expired or came from another site. Please sign in again.",
    "login_note": (
        "The key is kept only in an HttpOnly cookie of this browser and removed when you sign out."
    ),
    "level": "Level",
    "field": "Field",
    "year": "Year",
    "region": "Region",
    "region_total": "total",
    "show": "Show",
    "all_fields": "All fields",
    "any": "Any",
    "none_found": "Nothing matches.",
    "history": "History",
    "forecast_median": "Forecast median",
    "band_80": "80% interval",
    "band_95": "95% interval",
    "persons": "persons",
    "back_overview": "Back to the overview",
    "overview_title": "Shortage overview",
    "heatmap_title": "Probability of a shortage by field and forecast year",
    "heatmap_note": (
        "Colour is the probability that demand exceeds supply (gap > 0) in that year; fields "
        "in the plan's order."
    ),
    "heatmap_colorbar": "P(shortage)",
    "ranking_title": "Shortage ranking for {year}",
    "ranking_note": (
        "Ranked by expected shortfall in persons (the mean of max(demand − supply, 0) over the "
        "joint samples, the largest 10% of gaps counted at the 90th percentile so that a few "
        "extreme demand samples cannot decide the order), which weighs how short as well as "
        "how likely; ties by P(shortage). Intervals are the 10%–90% quantiles."
    ),
    "ranking_note_probability": (
        "This run did not store the expected shortfall, so fields are ranked most likely short "
        "first, then by the gap relative to supply; intervals are the 10%–90% quantiles."
    ),
    "shortfall_w90": "Expected shortfall",
    "city_title": "City total (all fields)",
    "city_note": (
        "Each cell: the median net gap (demand − supply, one field's surplus offsetting "
        "another's shortage), its 10%–90% interval and P(net shortage); the ranking above "
        "shows each field's shortage."
    ),
    "net_short": "P(net short) {p}",
    "field_actions": "Programmes, warnings and quotas of this field",
    "urgent_title": "Most urgent programmes",
    "urgent_note": (
        "Programmes whose main field this is, most urgent first (the rule is on the programmes "
        "page)."
    ),
    "rank": "Rank",
    "supply_median": "Supply (median)",
    "demand_median": "Demand (median)",
    "gap_median": "Gap (median)",
    "gap_interval": "Gap, 80% interval",
    "p_shortage": "P(shortage)",
    "field_title": "{name}: supply and demand",
    "tier": "Tier",
    "supply": "Supply (graduates entering the field)",
    "demand": "Demand",
    "gap": "Gap (demand − supply)",
    "chart_supply": "Supply",
    "chart_demand": "Demand",
    "chart_gap": "Gap",
    "zero_line": "Balance",
    "scale_title": "Demand in persons",
    "scale_note": (
        "This field posts {p50} postings per real opening (80% interval {p10}–{p90}), from: "
        "{source}. Demand = postings ÷ this scale."
    ),
    "scale_unknown": "This run recorded no postings-per-opening scale.",
    "drivers_title": "What drives the gap (since the base year, expected values)",
    "drivers_note": (
        "Gap = base year's gap + demand growth + survey adjustment + cohort pipeline + rates "
        "(persons)."
    ),
    "drivers_sum_note": "“All levels” is the sum over the levels.",
    "base_year": "Base year",
    "base_gap": "Base gap",
    "demand_growth": "Demand growth",
    "survey_adjustment": "Survey adjustment",
    "cohort_pipeline": "Cohort pipeline",
    "rates": "Rates",
    "programmes_feeding": "Programmes feeding this field",
    "programmes_feeding_note": (
        "Weight is the share of the programme's graduates counted in this field; graduates are "
        "forecast medians."
    ),
    "weight": "Weight",
    "graduates_year": "Graduates {year}",
    "not_found_title": "Not found",
    "invalid_title": "Invalid choice",
    "invalid_choice": "“{value}” is not a valid {what}. Choose one of: {options}",
    "field_not_found": "There is no field with the code “{code}”.",
    "programmes_title": "Programme warnings and quota recommendations",
    "filters": "Filters",
    "search": "Search programme code or name",
    "apply": "Apply",
    "reset": "Clear",
    "export_csv": "Export CSV",
    "export_xlsx": "Export Excel",
    "warnings_title": "Employment warnings",
    "warnings_note": (
        "Under the Ministry of Education (2011) and Tianjin (2009) placement-rate rules."
    ),
    "rule": "Rule",
    "action": "Action",
    "figures": "Figures",
    "message": "Message",
    "placement_rates": "placement {previous} → {last} (threshold {threshold})",
    "placed_of": "{placed} of {graduates} placed",
    "recommendations_title": "Quota recommendations for {year}",
    "recommendations_note": (
        "Quotas minimising the expected cost of shortage and surplus in the graduation years, "
        "within capacity, the yearly change, the totals per level and the employment rules."
    ),
    "programme": "Programme",
    "current_quota": "Current",
    "recommended_quota": "Recommended",
    "change": "Change",
    "quota_interval": "10%–90% · bounds",
    "reason": "Reason",
    "n_rows": "{n} rows",
    "forbidden_title": "Not available",
    "forbidden_role": (
        "Sorry, this page is not available for your role ({role}). Please contact the "
        "commission's planning office if you need it."
    ),
    "forbidden_field": (
        "Sorry, you may only see the figures of your association's fields ({fields})."
    ),
    "uploads_title": "Uploads",
    "upload_intro": (
        "Every row is checked; one problem refuses the whole file, and the problems are listed "
        "by row (as numbered in Excel, the header being row 1), column and reason."
    ),
    "upload_kind": "Kind of data",
    "upload_file": "File (CSV, XLSX or JSON)",
    "upload_submit": "Upload",
    "upload_sending": "Uploading and checking …",
    "upload_accepted": "Accepted {rows} rows as upload #{id}.",
    "upload_duplicate": (
        "Identical content was already stored as upload #{id}; nothing was written."
    ),
    "upload_rejected": "The file was refused; nothing was stored:",
    "upload_failed": "The upload failed:",
    "upload_choose_file": "Please choose a file.",
    "upload_not_allowed": (
        "Your role may read the upload records; data is sent by industry associations and admins."
    ),
    "problems_total": "{total} problem(s)",
    "row": "Row",
    "column": "Column",
    "problem_reason": "Reason",
    "expected_columns": "Columns of each kind",
    "required": "Required",
    "optional": "Optional",
    "aliases": "Accepted headers",
    "recent_uploads": "Recent uploads",
    "upload_id": "ID",
    "kind": "Kind",
    "uploader": "Uploader",
    "filename": "File",
    "rows": "Rows",
    "replaced": "Replaced",
    "uploaded_at": "Time",
    "kind_enrollment": "Enrollment",
    "kind_graduates": "Graduates",
    "kind_outcomes": "Outcomes",
    "kind_hiring": "Hiring",
    "kind_demand_survey": "Demand survey",
    "kind_catalog": "Catalog",
    "runs_title": "Training runs",
    "runs_note": (
        "Each run reads the data up to one upload (the “Data up to” column gives its number); "
        "one succeeded run is served and every page reads it."
    ),
    "status": "Status",
    "served": "served",
    "created": "Created",
    "started": "Started",
    "finished": "Finished",
    "duration": "Duration",
    "timings": "Stage timings (s)",
    "metrics": "Key metrics",
    "error": "Error",
    "status_pending": "pending",
    "status_running": "running",
    "status_succeeded": "succeeded",
    "status_failed": "failed",
    "held": "kept as challenger",
    "held_reason": "Not served automatically because",
    "changes_since_served": "Moves since the run served then",
    "metric_first_forecast_year": "First forecast year",
    "metric_horizon": "Horizon (years)",
    "metric_cells_short_in_first_year": "Cells short in first year",
    "metric_programmes_warned": "Programmes warned",
    "metric_quotas_raised": "Quotas raised",
    "metric_quotas_cut": "Quotas cut",
    "metric_quotas_stopped": "Programmes stopped",
    "api_title": "API reference",
    "api_intro": (
        "Generated from the service's OpenAPI document (works offline). Send `Authorization: "
        "Bearer <key>` with every call."
    ),
    "api_openapi": "OpenAPI JSON",
    "api_parameters": "Parameters",
    "api_name": "Name",
    "api_in": "In",
    "api_type": "Type",
    "api_required": "Required",
    "api_description": "Description",
    "api_request_body": "Request body",
    "api_responses": "Responses",
    "api_examples": "Examples",
    "api_schemas": "Schemas",
    "api_auth": "key required",
    "api_default": "default",
    "api_details_en": "Details",
    "yes": "yes",
    "no": "no",
    "action_stop": "stop enrollment",
    "action_alternate_years": "alternate years",
    "action_cap_at_placed": "cap at last year's placed",
    "action_reduce": "reduce the quota",
    "action_no_new_points": "no new points",
    "action_review_duplicates": "review duplicates",
    "warning_filter": "Warning",
    "warning_any": "any warning",
    "warning_none": "no warning",
    "sort_by": "sort",
    "urgency": "Urgency",
    "urgency_note": (
        "Ordered by urgency: programmes with an employment warning first, the most pressing "
        "action first (stop, alternate years, cap at the placed, reduce, review duplicates, no "
        "new points); then by the recommended change in seats, largest first. Click a column "
        "heading to sort by it."
    ),
    "warnings_col": "Warnings",
    "own_effect": "Own graduates in field, now → recommended",
    "own_effect_note": (
        "Own graduates in field: the programme's expected graduates working in its main field "
        "in the graduation year at the current and the recommended quota (completion × "
        "placement × in-field × local rate × crosswalk weight, averaged over the samples). It "
        "is this programme's change alone; the field's gap moves by the opposite amount."
    ),
    "gap_effect": "field gap {delta}",
    "after_horizon": "graduates after the horizon",
    "fixed_by": "held by {bounds}",
    "page_of": "Page {n} of {pages}",
    "previous_page": "Previous",
    "stopped_since": "stopped since {year}",
    "next_page": "Next",
    "binding_capacity": "capacity",
    "binding_change_up": "max increase",
    "binding_change_down": "max decrease",
    "binding_rule": "employment rule",
    "binding_total_quota": "level total",
    "tier_national_strategic": "national strategic",
    "tier_urgent": "urgently needed",
    "tier_social": "social",
    "tier_urban": "urban",
    "tier_other": "other",
    "stage_load": "load data",
    "stage_balance_backtest": "balance backtest",
    "stage_supply": "supply",
    "stage_demand": "demand",
    "stage_balance": "balance",
    "stage_warnings": "warnings",
    "stage_quotas": "quotas",
    "stage_changes": "changes",
    "stage_artifacts": "save results",
    "stage_status_replayed": "replayed",
    "stage_status_reused": "reused",
    "stage_status_skipped": "skipped",
    "reason_code_RULE_STOP": "employment rules stop enrollment",
    "reason_code_RULE_PAUSE": "employment rules pause enrollment",
    "reason_code_RULE_LIMIT": "employment rules cap the quota",
    "reason_code_SHORTAGE_EXPAND": "field short: expand",
    "reason_code_SURPLUS_REDUCE": "surplus: reduce",
    "reason_code_REBALANCE": "moved within the total",
    "reason_code_UNCHANGED": "unchanged",
    "reason_code_AT_CHANGE_CAP": "at the maximum yearly change",
    "reason_code_AT_CAPACITY": "at capacity",
    "reason_code_STOPPED": "stopped enrolling",
    "level_all": "All levels",
}

#: Headers of the recommendations export on a Chinese page, by column. The English export keeps
#: the column codes as headers (scripts read them); a spreadsheet for planners says it in words.
EXPORT_HEADERS_ZH: Final[dict[str, str]] = {
    "urgency": "紧迫度排名",
    "programme_code": "专业代码",
    "programme_name": "专业名称",
    "level": "层次",
    "field_code": "主领域代码",
    "field_name": "主领域",
    "intake_year": "招生年份",
    "graduation_year": "毕业年份",
    "current_quota": "现有计划",
    "recommended_quota": "建议计划",
    "change": "变化",
    "change_pct": "变化比例",
    "quota_p10": "建议计划10%分位",
    "quota_p90": "建议计划90%分位",
    "gap_before": "调整前缺口（期望）",
    "gap_after": "调整后缺口（期望）",
    "p_shortage_before": "调整前短缺概率",
    "p_shortage_after": "调整后短缺概率",
    "own_before": "本专业进入本领域的毕业生（现有计划）",
    "own_after": "本专业进入本领域的毕业生（建议计划）",
    "binding": "起作用的约束",
    "warning_actions": "预警措施",
    "stopped_since": "停招起始年份",
    "reasons": "理由类别",
    "reason": "理由",
}

#: The API reference's route summaries in Chinese, by "METHOD path" (the English ones are the
#: routes' own, in the OpenAPI document). Each route's long description stays as written.
API_SUMMARIES_ZH: Final[dict[str, str]] = {
    "GET /api/v1/fields": "重点产业领域",
    "GET /api/v1/programmes": "专业",
    "GET /api/v1/catalog": "现行目录",
    "PUT /api/v1/catalog": "替换目录",
    "GET /api/v1/forecasts": "各序列的预测",
    "GET /api/v1/balance": "供给、需求与缺口",
    "GET /api/v1/shortages": "短缺排名",
    "GET /api/v1/drivers": "缺口构成",
    "GET /api/v1/demand-scales": "各领域每个岗位的招聘信息数",
    "GET /api/v1/warnings": "专业就业预警",
    "GET /api/v1/recommendations": "招生计划建议",
    "POST /api/v1/scenarios": "情景推演（如果……会怎样）",
    "POST /api/v1/uploads/{kind}": "上传数据文件",
    "GET /api/v1/uploads": "上传记录（最新在前）",
    "GET /api/v1/uploads/{upload_id}": "单次上传",
    "GET /api/v1/runs": "训练运行（最新在前）",
    "POST /api/v1/runs": "排队一次训练运行",
    "GET /api/v1/runs/{run_id}": "单次运行",
    "POST /api/v1/runs/{run_id}/promote": "发布某次运行",
    "POST /api/v1/runs/rollback": "重新发布上一次运行",
    "GET /api/v1/models": "模型库",
    "GET /api/v1/accuracy": "历次运行的实际准确度",
    "POST /api/v1/keys": "创建密钥",
    "GET /api/v1/keys": "密钥",
    "DELETE /api/v1/keys/{name}": "撤销密钥",
    "GET /api/v1/city": "本市设置",
    "GET /healthz": "存活检查",
    "GET /readyz": "就绪检查",
}
#: The API reference's groups (the routes' OpenAPI tags) in Chinese.
API_TAGS_ZH: Final[dict[str, str]] = {
    "catalog": "目录",
    "forecasts": "预测",
    "balance": "供需平衡",
    "programmes": "专业",
    "scenarios": "情景",
    "uploads": "上传",
    "runs": "运行",
    "accuracy": "准确度",
    "keys": "密钥",
    "city": "城市",
    "health": "健康检查",
    "other": "其他",
}

#: Where a field's postings-per-opening scale comes from, and what it assumes, in Chinese (the
#: run stores them in English, which the English page shows as stored).
SCALE_TEXT_ZH: Final[dict[str, str]] = {
    SOURCE_HIRES: "实际招聘人数",
    SOURCE_RATES: "毕业去向比率",
    SOURCE_PRIOR: "各领域的共同估计",
    SOURCE_ADMIN: "管理员设定：",
    NOTE_HIRES_BOUND: "有招聘人数的各年均供不应求：招聘人数只能给出该系数的上限。",
    NOTE_LEVEL_ASSUMED: (
        "没有招聘人数或管理员设定的系数作为基准：假定该领域的供需在历史上总体平衡。"
    ),
}

#: Level names per language (Chinese from the vocabulary, so the two never disagree).
LEVEL_NAMES: Final[dict[str, dict[str, str]]] = {
    "zh": {**{level: LEVEL_NAMES_ZH[level] for level in LEVELS}, ALL_LEVELS: ZH["level_all"]},
    "en": {
        "secondary_vocational": "Secondary vocational",
        "higher_vocational": "Higher vocational",
        "bachelor": "Bachelor",
        "master": "Master",
        "doctor": "Doctor",
        ALL_LEVELS: EN["level_all"],
    },
}

STRINGS: Final[Mapping[str, Mapping[str, str]]] = {"zh": ZH, "en": EN}

Translate = Callable[..., str]


def choose_lang(query: str | None, cookie: str | None) -> str:
    """The page language: the query parameter wins (and is then remembered), then the cookie."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate
    return DEFAULT_LANG


def translator(lang: str) -> Translate:
    """``t(key, **values)``: the string in ``lang`` with ``{values}`` filled in.

    An unknown key falls back to the key itself rather than failing a page; the tests check
    that both languages have the same keys.
    """
    strings = STRINGS[lang]

    def translate(key: str, **values: object) -> str:
        text = strings.get(key, key)
        return text.format(**values) if values else text

    return translate


def level_name(level: str, lang: str) -> str:
    return LEVEL_NAMES[lang].get(level, level)


def tier_name(tier: str, lang: str) -> str:
    """The reference catalog's tiers translated; a city's own tier label as the city wrote it."""
    return STRINGS[lang].get(f"tier_{tier}", tier)


def code_name(prefix: str, code: str, lang: str) -> str:
    """A code of the product (a run stage ``stage_``, a reason ``reason_code_``) in ``lang``;
    one without words yet as the code itself (the tests require words for every known code)."""
    return STRINGS[lang].get(f"{prefix}{code}", code)


def stage_name(stage: str, lang: str) -> str:
    """A run stage of a run's timings in ``lang``, or a step within one:
    ``balance_backtest.2021.reused`` (a cut year of the balance backtest and how it was done)
    reads "balance backtest 2021 reused"."""
    name, _, step = stage.partition(".")
    if not step:
        return code_name("stage_", stage, lang)
    part, _, status = step.partition(".")
    done = code_name("stage_status_", status, lang) if status else ""
    return " ".join(word for word in (code_name("stage_", name, lang), part, done) if word)


def scale_text(text: str, lang: str) -> str:
    """A scale's source or note (as the run stored it) in ``lang``; an admin's own source
    text as the admin wrote it."""
    if lang != "zh" or not text:
        return text
    if text.startswith(SOURCE_ADMIN):
        return SCALE_TEXT_ZH[SOURCE_ADMIN] + text.removeprefix(SOURCE_ADMIN)
    return SCALE_TEXT_ZH.get(text, text)
