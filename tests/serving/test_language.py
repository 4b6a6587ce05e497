"""The API answers in the caller's language: problems of an upload and the errors it writes
itself in Chinese for ``Accept-Language: zh``, in English otherwise, with the same rows,
columns and codes; answers that vary say so, and caches never serve one language for another."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus

import pytest
from fastapi.testclient import TestClient
from support import CHINESE, Demo, assert_catalogue_complete, bearer

from data.ingest import open_store
from serving.api.language import negotiate
from serving.api.messages import API_MESSAGES, TITLES_ZH
from serving.app import create_app

API = "/api/v1"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
#: A hiring file with four row problems (the header is row 1).
BAD_HIRING = (
    "period,field_code,level,postings\n"
    "2025-11,ic,bachelor,1.5\n"
    "2025-11,ic,master,-3\n"
    "2025-10,ic,本科生,4\n"
    "2025/13,ic,博士,5\n"
    "2025-12,ic,高职/专科,6\n"
)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh-hans-cn", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en;q=0.1, zh-CN;q=0.2", "zh"),
        ("fr-FR, zh;q=0.3", "zh"),
        ("en-US,zh;q=0.9", "en"),
        ("zh;q=0.5, en;q=0.8", "en"),
        ("zh;q=0, fr", "en"),
        ("zh-TW", "en"),
        ("fr", "en"),
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("zh;q=lots", "en"),
    ],
)
def test_the_language_follows_accept_language_and_its_q_values(
    header: str | None, language: str
) -> None:
    assert negotiate(header) == language


def test_every_api_message_and_title_has_both_languages() -> None:
    assert_catalogue_complete(API_MESSAGES)
    assert {401, 403, 404, 413, 415, 422, 429} <= set(TITLES_ZH)
    assert all(CHINESE.search(title) for title in TITLES_ZH.values())


@pytest.fixture
def writer(writable: Demo) -> Iterator[TestClient]:
    settings = writable.settings(max_upload_mb=0.01, auth_failure_limit=2)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def upload(client: TestClient, key: str, text: str, language: dict[str, str]) -> dict:
    response = client.post(
        f"{API}/uploads/hiring",
        files={"file": ("hiring.csv", text.encode(), "text/csv")},
        headers={**bearer(key), **language},
    )
    assert response.headers["Vary"] == "Accept-Language"
    assert response.headers["content-type"] == "application/problem+json"
    return {"status": response.status_code, **response.json()}


def test_a_chinese_client_reads_the_problems_of_its_upload_in_chinese(
    writer: TestClient, writable: Demo
) -> None:
    key = writable.keys["ic"]
    store = open_store(writable.url)
    try:
        before = store.watermark()
        english = upload(writer, key, BAD_HIRING, EN)
        chinese = upload(writer, key, BAD_HIRING, ZH)
        assert store.watermark() == before, "a refused upload stores nothing"
    finally:
        store.dispose()
    assert english["status"] == chinese["status"] == 422
    assert english["total"] == chinese["total"] == 3
    where = [(p["row"], p["column"], p["code"]) for p in english["problems"]]
    assert where == [
        (2, "postings", "number.not_whole"),
        (3, "postings", "count.negative"),
        (5, "period", "period.malformed"),
    ]
    assert [(p["row"], p["column"], p["code"]) for p in chinese["problems"]] == where
    assert [p["reason"] for p in english["problems"]] == [
        "'1.5' is not a whole count of persons",
        "'-3' is negative",
        "'2025/13' is not a period; write YYYY, YYYY-Qn or YYYY-MM",
    ]
    assert [p["reason"] for p in chinese["problems"]] == [
        "'1.5' 不是整数，人数须为整数",
        "'-3' 是负数",
        "'2025/13' 不是有效的期间；请写作 YYYY、YYYY-Qn 或 YYYY-MM",
    ]
    assert (english["title"], english["detail"]) == (
        HTTPStatus.UNPROCESSABLE_ENTITY.phrase,
        "upload rejected: 3 problem(s); nothing was stored",
    )
    assert (chinese["title"], chinese["detail"]) == (
        "无法处理的内容",
        "文件被拒绝：共 3 个问题；未存储任何数据",
    )


def test_rows_of_another_field_are_refused_with_403_in_either_language(
    writer: TestClient, writable: Demo
) -> None:
    foreign = "period,field_code,postings\n2025-11,ic,3\n2025-11,ai,4\n"
    for language in (EN, ZH):
        refused = upload(writer, writable.keys["ic"], foreign, language)
        assert refused["status"] == 403
        (problem,) = refused["problems"]
        assert (problem["row"], problem["column"], problem["code"]) == (
            3,
            "field_code",
            "field.not_yours",
        )
    assert problem["reason"] == "领域 'ai' 不是您的领域（ic）"


def test_an_accepted_upload_says_its_answer_varies_by_language(
    writer: TestClient, writable: Demo
) -> None:
    accepted = writer.post(
        f"{API}/uploads/hiring",
        files={"file": ("ok.csv", b"period,field_code,postings\n2025-11,ic,3\n", "text/csv")},
        headers={**bearer(writable.keys["ic"]), **ZH},
    )
    assert accepted.status_code == 201
    assert accepted.headers["Vary"] == "Accept-Language"


def refusal(client: TestClient, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
    response = client.request(method, API + path, **kwargs)  # type: ignore[arg-type]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Vary"] == "Accept-Language"
    return response.status_code, response.json()


def test_the_errors_the_api_writes_are_in_the_callers_language(
    writer: TestClient, writable: Demo
) -> None:
    planner = {**bearer(writable.keys["planner"]), **ZH}
    assert refusal(writer, "GET", "/balance", headers=ZH) == (
        401,
        {
            "type": "about:blank",
            "title": "未认证",
            "status": 401,
            "detail": "缺少 API 密钥：请发送 'Authorization: Bearer <密钥>'（密钥由 "
            "`talentcast keys create` 发放）",
        },
    )
    status, body = refusal(
        writer,
        "GET",
        "/balance",
        headers={**EN, **bearer(writable.keys["planner"])},
        params={"run_id": 999999},
    )
    assert (status, body["title"], body["detail"]) == (
        404,
        "Not Found",
        "run 999999 does not exist",
    )
    status, body = refusal(writer, "GET", "/balance", headers=planner, params={"run_id": 999999})
    assert (status, body["title"], body["detail"]) == (404, "未找到", "运行 999999 不存在")
    status, body = refusal(writer, "GET", "/no-such-thing", headers=planner)
    assert (status, body["title"], body["detail"]) == (404, "未找到", "未找到")
    status, body = refusal(
        writer, "POST", "/uploads/hiring", headers=planner, files={"file": ("a.csv", b"x")}
    )
    assert (status, body["title"]) == (403, "无权访问")
    assert (
        body["detail"] == "planner 密钥 'planner' 无权执行此操作（允许的角色：admin, association）"
    )
    admin = {**bearer(writable.keys["admin"]), **ZH}
    status, body = refusal(
        writer, "POST", "/uploads/hiring", headers=admin, files={"file": ("a.csv", b"x" * 20_000)}
    )
    assert (status, body["title"], body["detail"]) == (413, "内容过大", "文件超过 0 MB 的上限")
    status, body = refusal(writer, "POST", "/uploads/hiring", headers=admin, content=b"period\n")
    assert (status, body["title"]) == (415, "不支持的媒体类型")
    assert body["detail"] == "请以 multipart/form-data 格式发送文件，字段名为 'file'"
    status, body = refusal(
        writer, "GET", "/balance", headers=planner, params={"limit": 0, "offset": -1}
    )
    assert (status, body["title"]) == (422, "无法处理的内容")
    assert body["detail"] == "请求无效，请检查以下参数：query.limit、query.offset（详见 errors）"
    assert [error["loc"] for error in body["errors"]] == [["query", "limit"], ["query", "offset"]]
    status, body = refusal(
        writer,
        "GET",
        "/balance",
        headers={**bearer(writable.keys["planner"]), **EN},
        params={"limit": 0},
    )
    assert body["detail"] == "query.limit: Input should be greater than or equal to 1"
    for _ in range(3):
        status, body = refusal(writer, "GET", "/balance", headers={**bearer("tc_wrong"), **ZH})
    assert (status, body["title"]) == (429, "请求过多")
    assert body["detail"].startswith("来自此地址或使用此密钥的失败尝试过多；请在 ")


def test_data_reads_are_the_same_in_every_language_and_share_their_etag(
    client: TestClient, trained_demo: Demo
) -> None:
    planner = bearer(trained_demo.keys["planner"])
    params = {"field": "ic", "limit": 5}
    english = client.get(f"{API}/balance", params=params, headers={**planner, **EN})
    chinese = client.get(f"{API}/balance", params=params, headers={**planner, **ZH})
    # Numbers and codes are the same in both languages: one body, one ETag, no Vary needed.
    assert english.content == chinese.content
    assert english.headers["ETag"] == chinese.headers["ETag"]
    assert "Vary" not in english.headers
    revalidated = client.get(
        f"{API}/balance",
        params=params,
        headers={**planner, **ZH, "If-None-Match": english.headers["ETag"]},
    )
    assert revalidated.status_code == 304
