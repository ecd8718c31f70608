"""Query redaction: every spelling of a secret parameter is hidden, nothing else is touched."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_obs.redaction import DEFAULT_REDACTED_PARAMS, QueryRedactor

redact = QueryRedactor()
SECRET = "s3cr3tVALUE"

# The forms of issue 14 item 1, each with the value that must vanish and the output expected.
FORMS = [
    (b"token[]=s3cr3tVALUE&x=1", "token[]=[REDACTED]&x=1"),
    (b"token%5B%5D=s3cr3tVALUE&x=1", "token%5B%5D=[REDACTED]&x=1"),
    (b"token[0]=s3cr3tVALUE&token[1]=s3cr3tVALUE", "token[0]=[REDACTED]&token[1]=[REDACTED]"),
    (b"user[password]=s3cr3tVALUE&user[name]=bob", "user[password]=[REDACTED]&user[name]=bob"),
    (b"user%5Bpassword%5D=s3cr3tVALUE", "user%5Bpassword%5D=[REDACTED]"),
    (b"a[b][client_secret]=s3cr3tVALUE", "a[b][client_secret]=[REDACTED]"),
    (b"user.password=s3cr3tVALUE", "user.password=[REDACTED]"),
    (b"a=1;token=s3cr3tVALUE", "a=1;token=[REDACTED]"),
    (b"a=1;token=s3cr3tVALUE;b=2&c=3", "a=1;token=[REDACTED]&c=3"),
    (b"a=1&amp;token=s3cr3tVALUE&amp;b=2", "a=1&amp;token=[REDACTED]&amp;b=2"),
    (b"a=1&#38;token=s3cr3tVALUE", "a=1&#38;token=[REDACTED]"),
    (b"token+=s3cr3tVALUE", "token+=[REDACTED]"),
    (b"+token=s3cr3tVALUE", "+token=[REDACTED]"),
    (b"token%20=s3cr3tVALUE", "token%20=[REDACTED]"),
    (b"%74oken=s3cr3tVALUE", "%74oken=[REDACTED]"),
    (b"%2574oken=s3cr3tVALUE", "%2574oken=[REDACTED]"),
    (b"TOKEN=s3cr3tVALUE", "TOKEN=[REDACTED]"),
    (b"token=s3cr3tVALUE;rest", "token=[REDACTED]"),
    (b"token=s3cr3t=VALUE", "token=[REDACTED]"),
    (b"token%3Ds3cr3tVALUE&x=1", "[REDACTED]&x=1"),
    (b"next=%2Fcb%3Ftoken%3Ds3cr3tVALUE&page=2", "next=[REDACTED]&page=2"),
    (b"next=/cb?token=s3cr3tVALUE", "next=[REDACTED]"),
    (b"next=%252Fcb%253Fcode%253Ds3cr3tVALUE", "next=[REDACTED]"),
    (b"x=1&token=s3cr3tVALUE&token=s3cr3tVALUE", "x=1&token=[REDACTED]&token=[REDACTED]"),
    (b"token=%73%33cr3tVALUE", "token=[REDACTED]"),
]


@pytest.mark.parametrize(("raw", "expected"), FORMS)
def test_issue_forms_are_redacted(raw: bytes, expected: str) -> None:
    """Brackets, indices, ';', &amp;, +, %20, percent and double encodings: the value is gone."""
    assert redact(raw) == expected
    assert SECRET not in redact(raw) and "s3cr3t" not in redact(raw)


# Every plain name of the default list, and of the patterns one name each, in three spellings.
PLAIN = sorted(name for name in DEFAULT_REDACTED_PARAMS if not name.startswith("*"))
PATTERNED = [f"my_{name[1:]}" for name in sorted(DEFAULT_REDACTED_PARAMS) if name.startswith("*")]


@pytest.mark.parametrize("name", PLAIN + PATTERNED)
def test_every_default_name_is_redacted(name: str) -> None:
    """Each default name, as listed, upper-cased, and with '-' and '_' swapped, is redacted."""
    for spelling in {name, name.upper(), name.replace("_", "-"), name.replace("-", "_")}:
        assert redact(f"{spelling}=hunter22&x=1".encode()) == f"{spelling}=[REDACTED]&x=1"


@pytest.mark.parametrize(
    "name",
    ["clientSecret", "refreshToken", "X-Amz-Signature", "X-Goog-Credential", "apiKey", "API_KEY",
     "privateKey", "github_token", "DB_PASSWORD", "stripe-secret", "csrfmiddlewaretoken", "hapikey",
     "connect.sid", "PHPSESSID", "aws_secret_access_key", "SAMLResponse", "x-amz-security-token"],
)  # fmt: skip
def test_real_world_spellings_are_redacted(name: str) -> None:
    """camelCase, dashes, upper case and vendor names match the list."""
    assert redact(f"{name}={SECRET}".encode()) == f"{name}=[REDACTED]"


def test_other_parameters_untouched() -> None:
    """Names that merely contain a secret word, and flags, are kept exactly as sent."""
    raw = b"zip_code=90210&sort_key=name&keyboard=qwerty&tokenizer=bpe&monkey=1&q=a%20b+c&flag&page=2"
    assert redact(raw) == raw.decode()
    assert redact(raw) == raw.decode()  # again, through the warm cache


def test_warm_cache_still_redacts() -> None:
    """After the names are known, a query mixing them with a secret is still redacted."""
    fresh = QueryRedactor()
    assert fresh(b"page=1&sort=a") == "page=1&sort=a"
    assert fresh(b"page=1&sort=a&token=t1") == "page=1&sort=a&token=[REDACTED]"
    assert fresh(b"page=1;token=t2") == "page=1;token=[REDACTED]"
    assert fresh(b"page=1%26token%3Dt3") == "page=[REDACTED]"


def test_cache_overflow_keeps_redacting() -> None:
    """Thousands of distinct names (a hostile client) never make a secret name pass."""
    fresh = QueryRedactor()
    for index in range(3000):
        fresh(f"n{index}=1".encode())
        if index % 500 == 0:
            assert fresh(f"n1=1&k{index}_token=t".encode()) == f"n1=1&k{index}_token=[REDACTED]"


def test_user_extension_and_replacement() -> None:
    """DEFAULT_REDACTED_PARAMS | {...} adds names (canonically compared); a set of one's own replaces."""
    extended = QueryRedactor(DEFAULT_REDACTED_PARAMS | {"session_key", "*_hash"})
    assert extended(b"SessionKey=a&token=b&file_hash=c&hash=d") == (
        "SessionKey=[REDACTED]&token=[REDACTED]&file_hash=[REDACTED]&hash=[REDACTED]"
    )
    own = QueryRedactor({"only_this"})
    assert own(b"token=a&only-this=b") == "token=a&only-this=[REDACTED]"
    assert QueryRedactor(())(b"token=a") == "token=a"


@pytest.mark.parametrize("names", ["token", b"token", ["ok", 3], ["*"], ["--"]])
def test_invalid_names_raise(names: object) -> None:
    """A single string, a non-string or a name without letters is a ValueError naming the option."""
    with pytest.raises(ValueError, match="redact_query_params"):
        QueryRedactor(names)  # type: ignore[arg-type]


def test_max_length_applies_after_redaction() -> None:
    """A long query is cut after redaction: a secret across the cut is hidden whole."""
    short = QueryRedactor(max_length=32)
    raw = b"pad=" + b"p" * 20 + b"&token=" + SECRET.encode() * 5
    out = short(raw)
    assert out == ("pad=" + "p" * 20 + "&token=[RED")[:32] + "...[truncated]"
    assert "s3cr" not in out
    assert (
        short(b"token=" + SECRET.encode() * 9 + b"&page=2") == "token=[REDACTED]&page=2"
    )  # fits once redacted
    with pytest.raises(ValueError, match="max_length"):
        QueryRedactor(max_length=15)


def test_secret_values_as_sent_and_decoded() -> None:
    """secret_values() lists each redacted value as sent and decoded, and nothing else."""
    values = redact.secret_values(b"page=2&token=a%2Bb%20c&api-key=x+y&code=42&q=keep")
    assert {"a%2Bb%20c", "a+b c", "x+y", "x y", "42", "code=42"} <= set(values)
    assert not {"2", "keep", "page", ""} & set(values)
    assert redact.secret_values(b"page=2&q=shoes") == ()


def test_secret_values_semicolons_and_nested() -> None:
    """A ';'-split value gives both readings; a nested query gives the outer value and the inner one."""
    assert {"abcd;x=1", "abcd"} <= set(redact.secret_values(b"token=abcd;x=1"))
    nested = set(redact.secret_values(b"next=%2Fcb%3Ftoken%3Dinner99"))
    assert {"%2Fcb%3Ftoken%3Dinner99", "/cb?token=inner99", "inner99"} <= nested


# --- properties -----------------------------------------------------------------------------

names = st.sampled_from(["token", "password", "client_secret", "X-Amz-Signature", "apiKey", "id_token"])
values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="&"), min_size=6, max_size=30)
plain_pairs = st.lists(
    st.tuples(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z0-9]{0,8}", fullmatch=True)),
    max_size=6,
).map(lambda pairs: [f"{name}={value}" for name, value in pairs if not redact.is_secret(name)])


def _spell_name(name: str, style: int) -> str:
    return [
        name,
        name.upper(),
        name + "[]",
        quote(name + "[]"),
        f"user[{name}]",
        name + "+",
        name + "%20",
        "".join(f"%{ord(char):02X}" for char in name),
        f"{name}[0]",
    ][style]


def _spell_value(value: str, style: int) -> str:
    return [value, quote(value, safe=""), quote(quote(value, safe=""), safe=""), value.replace(" ", "+")][
        style
    ]


@settings(database=None, deadline=None, max_examples=300)
@given(
    before=plain_pairs,
    after=plain_pairs,
    name=names,
    name_style=st.integers(0, 8),
    value=values,
    value_style=st.integers(0, 3),
    join=st.sampled_from(["&", ";", "&amp;"]),
)
def test_inserted_secret_never_shown(
    before: list[str], after: list[str], name: str, name_style: int, value: str, value_style: int, join: str
) -> None:
    """A secret parameter, in any spelling, among random ones: its value never appears, in any form."""
    sent = _spell_value(value, value_style)
    query = "&".join([*before, f"{_spell_name(name, name_style)}={sent}"]) + join + "&".join(after)
    out = redact(query.encode("utf-8"))
    for form in {value, sent, quote(value, safe="")}:
        if len(form) >= 4 and form not in query.replace(f"={sent}", "=", 1):
            assert form not in out
    rest = (sent + join + "&".join(after)).split("&")[0]  # the value, to the next "&"
    assert rest.encode("utf-8").decode("latin-1") in redact.secret_values(query.encode("utf-8"))


@settings(database=None, deadline=None, max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_render(raw: bytes) -> None:
    """Arbitrary bytes never raise: a string, at most max_length plus the marker."""
    out = redact(raw)
    assert isinstance(out, str) and len(out) <= 2048 + len("...[truncated]")
    assert isinstance(redact.secret_values(raw), tuple)


def test_default_list_documented_in_readme() -> None:
    """The README lists every default name, so the documentation cannot fall behind."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Redaction: what never reaches the logs or Sentry", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([^`]+)`", section))
    assert set(DEFAULT_REDACTED_PARAMS) <= listed
