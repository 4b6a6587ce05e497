"""What the API writes in its errors, in English and Chinese, side by side per code.

The titles of problem details (the status phrases) and the details the API composes itself
(keys, roles, sizes, missing runs and uploads) are rendered in the caller's language
(:mod:`serving.api.language`). Routes raise ``HTTPException`` with a :class:`Detail`, which
reads as its English sentence wherever it is used as text, so that the audit log, the logs and
tests see English whatever the client asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from data.messages import DEFAULT_LANGUAGE, Lang, Message, Param, render

#: Problem titles in Chinese by status; the English title is the HTTP status phrase.
TITLES_ZH: Final[dict[int, str]] = {
    400: "请求格式错误",
    401: "未认证",
    403: "无权访问",
    404: "未找到",
    409: "与已存储的内容冲突",
    413: "内容过大",
    415: "不支持的媒体类型",
    422: "无法处理的内容",
    429: "请求过多",
    500: "服务器内部错误",
    503: "服务暂不可用",
}

API_MESSAGES: Final[dict[str, Message]] = {
    "auth.missing_key": Message(
        en="missing API key: send 'Authorization: Bearer <key>' (keys come from "
        "`talentcast keys create`)",
        zh="缺少 API 密钥：请发送 'Authorization: Bearer <密钥>'（密钥由 "
        "`talentcast keys create` 发放）",
    ),
    "auth.unknown_key": Message(en="unknown or revoked API key", zh="API 密钥无效或已被撤销"),
    "auth.session_ended": Message(
        en="the dashboard session has ended (signed out, expired, or its key was revoked): "
        "sign in again",
        zh="控制台会话已结束（已退出、已过期或其密钥已被撤销）：请重新登录",
    ),
    "auth.throttled": Message(
        en="too many failed keys from this address or with this key; try again in {seconds} s",
        zh="来自此地址或使用此密钥的失败尝试过多；请在 {seconds} 秒后重试",
    ),
    "auth.cross_site": Message(
        en="cross-site request refused: a write made with the dashboard's session must come "
        "from its own pages (same origin and the session's CSRF token); scripts send "
        "'Authorization: Bearer <key>'",
        zh="已拒绝跨站请求：使用控制台会话的写操作必须来自控制台自己的页面（同源且带有会话的 "
        "CSRF 令牌）；脚本请发送 'Authorization: Bearer <密钥>'",
    ),
    "auth.role": Message(
        en="the {role} key {name!r} may not do this (allowed: {allowed})",
        zh="{role} 密钥 {name!r} 无权执行此操作（允许的角色：{allowed}）",
    ),
    "auth.field_scope": Message(
        en="the key {name!r} may only read its own fields ({mine}), not {field!r}",
        zh="密钥 {name!r} 只能读取自己的领域（{mine}），不能读取 {field!r}",
    ),
    "upload.kind_not_allowed": Message(
        en="an association key may upload {allowed}, not {kind}",
        zh="行业协会密钥只能上传 {allowed}，不能上传 {kind}",
    ),
    "upload.rejected": Message(
        en="upload rejected: {total} problem(s); nothing was stored",
        zh="文件被拒绝：共 {total} 个问题；未存储任何数据",
    ),
    "upload.missing": Message(en="upload {upload_id} does not exist", zh="上传 {upload_id} 不存在"),
    "run.missing": Message(en="run {run_id} does not exist", zh="运行 {run_id} 不存在"),
    "run.none_trained": Message(
        en="no run is served yet: none has been trained; an admin queues one with "
        "POST /api/v1/runs (or `talentcast retrain`)",
        zh="尚无发布的运行：还没有训练过任何运行；管理员可通过 POST /api/v1/runs"
        "（或 `talentcast retrain`）排队训练",
    ),
    "run.pending": Message(
        en="no run is served yet: run {run_id} is pending; its outputs are served when it "
        "finishes and passes the quality gates",
        zh="尚无发布的运行：运行 {run_id} 正在排队；完成并通过质量关卡后即发布其结果",
    ),
    "run.running": Message(
        en="no run is served yet: run {run_id} is running; its outputs are served when it "
        "finishes and passes the quality gates",
        zh="尚无发布的运行：运行 {run_id} 正在计算；完成并通过质量关卡后即发布其结果",
    ),
    "run.failed": Message(
        en="no run is served yet: run {run_id} failed ({error}); an admin corrects the data "
        "or settings and queues another with POST /api/v1/runs",
        zh="尚无发布的运行：运行 {run_id} 失败（{error}）；管理员修正数据或设置后，"
        "可通过 POST /api/v1/runs 再次排队",
    ),
    "run.refused": Message(
        en="no run is served yet: run {run_id} finished but was not served because a quality "
        "gate refused it: {reason}. An admin can serve it anyway with "
        "POST /api/v1/runs/{run_id}/promote (`talentcast runs promote {run_id}`), or send "
        "more data and retrain",
        zh="尚无发布的运行：运行 {run_id} 已完成，但未通过质量关卡，因此未发布：{reason}。"
        "管理员仍可通过 POST /api/v1/runs/{run_id}/promote（`talentcast runs promote "
        "{run_id}`）发布它，或补充数据后重新训练",
    ),
    "body.file_too_large": Message(
        en="the file is larger than the limit of {megabytes:.0f} MB",
        zh="文件超过 {megabytes:.0f} MB 的上限",
    ),
    "body.json_too_large": Message(
        en="the JSON body is larger than {limit:,} bytes",
        zh="JSON 请求体超过 {limit:,} 字节",
    ),
    "body.not_multipart": Message(
        en="send the file as multipart/form-data with the field {name}",
        zh="请以 multipart/form-data 格式发送文件，字段名为 {name}",
    ),
    # English callers get FastAPI's own sentence per parameter instead (see serving.app).
    "request.invalid": Message(
        en="invalid request: check {where} (see errors)",
        zh="请求无效，请检查以下参数：{where}（详见 errors）",
    ),
}


@dataclass(frozen=True)
class Detail:
    """A sentence of :data:`API_MESSAGES` with its parameters; ``str()`` is the English."""

    code: str
    params: tuple[tuple[str, Param], ...] = ()

    @classmethod
    def of(cls, code: str, /, **params: Param) -> Detail:
        if code not in API_MESSAGES:
            raise KeyError(f"no message for the API code {code!r}; add it to API_MESSAGES")
        return cls(code, tuple(params.items()))

    def in_language(self, lang: Lang) -> str:
        return render(API_MESSAGES, self.code, dict(self.params), lang)

    def __str__(self) -> str:
        return self.in_language(DEFAULT_LANGUAGE)


def title(status: int, lang: Lang) -> str:
    """The problem title of ``status`` in ``lang`` (the status phrase in English)."""
    phrase = HTTPStatus(status).phrase
    return TITLES_ZH.get(status, phrase) if lang == "zh" else phrase


def detail_text(detail: object, status: int, lang: Lang) -> str:
    """What to say as a problem's ``detail``: a :class:`Detail` in ``lang``, Starlette's
    default (the status phrase) as the title in ``lang``, any other text as it is."""
    if isinstance(detail, Detail):
        return detail.in_language(lang)
    text = str(detail)
    if text == HTTPStatus(status).phrase:
        return title(status, lang)
    return text
