"""Every operator on present, missing and list values, through the generated code (local field table)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

Eval = Callable[..., bool]


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # equality and inequality, strings and numbers
        ("proc.name = bash", {"proc.name": "bash"}, True),
        ("proc.name == bash", {"proc.name": "bash"}, True),
        ("proc.name = Bash", {"proc.name": "bash"}, False),
        ("proc.name != bash", {"proc.name": "zsh"}, True),
        ("proc.name != bash", {"proc.name": "bash"}, False),
        ("evt.num = 5", {"evt.num": 5}, True),
        ("evt.num = 0x5", {"evt.num": 5}, True),
        ("evt.num != 5", {"evt.num": 6}, True),
        ("evt.rawres = -2", {"evt.rawres": -2}, True),
        ("evt.latency > 1.5", {"evt.latency": 2.0}, True),
        ("container.privileged = true", {"container.privileged": True}, True),
        ("container.privileged = false", {"container.privileged": True}, False),
        # numeric ordering is numeric, string ordering is lexicographic (libsinsp strcmp)
        ("evt.num < 10", {"evt.num": 9}, True),
        ("evt.num < 10", {"evt.num": 10}, False),
        ("evt.num <= 10", {"evt.num": 10}, True),
        ("evt.num > 10", {"evt.num": 100}, True),
        ("evt.num >= 100", {"evt.num": 100}, True),
        ("ka.resp.code >= 400", {"ka.resp.code": "403"}, True),
        ("ka.resp.code > 400", {"ka.resp.code": "5"}, True),
        ("ka.resp.code = 200", {"ka.resp.code": "200"}, True),
        # substring family
        ("proc.cmdline contains curl", {"proc.cmdline": "sh -c curl x"}, True),
        ("proc.cmdline contains Curl", {"proc.cmdline": "sh -c curl x"}, False),
        ("proc.cmdline icontains CURL", {"proc.cmdline": "sh -c cUrl x"}, True),
        ("proc.name startswith ba", {"proc.name": "bash"}, True),
        ("proc.name startswith sh", {"proc.name": "bash"}, False),
        ("proc.name endswith sh", {"proc.name": "bash"}, True),
        # bcontains / bstartswith take hex digits
        ("evt.buffer bcontains 454c46", {"evt.buffer": b"\x7fELF\x02"}, True),
        ("evt.buffer bcontains 454C4600", {"evt.buffer": b"\x7fELF\x02"}, False),
        ("evt.buffer bstartswith 454c46", {"evt.buffer": b"\x7fELF\x02"}, False),
        ("evt.buffer bstartswith 7f454c46", {"evt.buffer": b"\x7fELF\x02"}, True),
        (r"evt.buffer contains '\xffZ'", {"evt.buffer": b"a\xffZ"}, True),
        (r"fd.name contains '\xff'", {"fd.name": "/tmp/bad\udcff"}, True),
        (r"fd.name = '\x41\x62'", {"fd.name": "Ab"}, True),
        ("evt.buffer contains 'ELF'", {"evt.buffer": b"\x7fELF"}, True),
        # glob: * crosses '/', ? one char, [..] classes; iglob ignores case
        ("fd.name glob '/etc/*'", {"fd.name": "/etc/ssh/sshd_config"}, True),
        ("fd.name glob '/etc/?asswd'", {"fd.name": "/etc/passwd"}, True),
        ("fd.name glob '/etc/[ps]*'", {"fd.name": "/etc/shadow"}, True),
        ("fd.name glob '/etc/*'", {"fd.name": "/var/etc/x"}, False),
        ("fd.name iglob '/ETC/*'", {"fd.name": "/etc/x"}, True),
        ("fd.name glob '/ETC/*'", {"fd.name": "/etc/x"}, False),
        # regex: whole-value match
        ("proc.name regex 'ba.h'", {"proc.name": "bash"}, True),
        ("proc.name regex 'as'", {"proc.name": "bash"}, False),
        ("proc.name regex '.*as.*'", {"proc.name": "bash"}, True),
        # in / intersects on scalars
        ("proc.name in (bash, zsh)", {"proc.name": "zsh"}, True),
        ("proc.name in (bash, zsh)", {"proc.name": "csh"}, False),
        ("proc.name in ()", {"proc.name": "csh"}, False),
        ("fd.sport in (22, 2222)", {"fd.sport": 2222}, True),
        ("proc.name intersects (bash, zsh)", {"proc.name": "zsh"}, True),
        # pmatch: the path or anything below it
        ("fd.name pmatch (/etc, /usr/bin/)", {"fd.name": "/etc"}, True),
        ("fd.name pmatch (/etc, /usr/bin/)", {"fd.name": "/etc/passwd"}, True),
        ("fd.name pmatch (/etc, /usr/bin/)", {"fd.name": "/usr/bin/ls"}, True),
        ("fd.name pmatch (/etc, /usr/bin/)", {"fd.name": "/etcetera"}, False),
        ("fd.name pmatch (/etc)", {"fd.name": "/var/etc"}, False),
        ("fd.name pmatch (/var/*)", {"fd.name": "/var/run/file.txt"}, True),
        ("fd.name pmatch (/var/*/*.txt)", {"fd.name": "/var/run/a.txt"}, True),
        ("fd.name pmatch (/var/*/*.txt)", {"fd.name": "/var/run/deeper/a.txt"}, False),
        ("fd.name pmatch (/var/*/*.txt)", {"fd.name": "/var/run/a.txt/inside"}, True),
        ("fd.name pmatch (/home/*/.ssh)", {"fd.name": "/home/al/.ssh/id_rsa"}, True),
        ("fd.name pmatch (/home/*/.ssh)", {"fd.name": "/home/.ssh"}, False),
        # exists
        ("fd.name exists", {"fd.name": "/x"}, True),
        ("fd.name exists", {}, False),
        ("fd.name exists", {"fd.name": ""}, True),
        ("proc.args exists", {"proc.args": []}, False),
        ("proc.args exists", {"proc.args": ["-c"]}, True),
    ],
)
def test_operator(evaluate: Eval, text: str, values: dict, expected: bool) -> None:
    assert evaluate(text, values) is expected


@pytest.mark.parametrize(
    "text",
    [
        "proc.name = bash",
        "proc.name != bash",
        "evt.num < 1",
        "evt.num > 1",
        "evt.num <= 1",
        "evt.num >= 1",
        "proc.name contains a",
        "proc.name icontains a",
        "proc.name startswith a",
        "proc.name endswith a",
        "proc.name glob '*'",
        "proc.name iglob '*'",
        "proc.name regex '.*'",
        "proc.name in (a, b)",
        "proc.name intersects (a)",
        "fd.name pmatch (/)",
        "evt.buffer bcontains 0a",
        "evt.buffer bstartswith 0a",
        "fd.sip = 1.2.3.4",
        "fd.sip != 1.2.3.4",
        "fd.sip in (10.0.0.0/8)",
        "container.privileged = false",
        "proc.name startswith oneof (a, b)",
        "proc.name contains allof (a, b)",
        "proc.args = a",
        "proc.args in (a)",
        "proc.args intersects (a)",
        "proc.args != a",
        "tolower(proc.name) = a",
        "len(proc.args) = 0",
        "proc.name = val(proc.pname)",
    ],
)
def test_missing_value_makes_every_comparison_false_and_not_flips_it(evaluate: Eval, text: str) -> None:
    assert evaluate(text, {}) is False
    assert evaluate(f"not {text}", {}) is True


def test_empty_list_is_missing(evaluate: Eval) -> None:
    assert evaluate("proc.args in (a)", {"proc.args": []}) is False
    assert evaluate("proc.args intersects (a)", {"proc.args": ()}) is False
    assert evaluate("proc.args = a", {"proc.args": []}) is False


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        ("proc.args in (a, b, c)", ["a", "b"], True),  # every element in the set
        ("proc.args in (a, b, c)", ["a", "z"], False),
        ("proc.args intersects (a, q)", ["a", "z"], True),  # at least one element in the set
        ("proc.args intersects (q)", ["a", "z"], False),
        ("proc.args = z", ["a", "z"], True),  # scalar operators: any element
        ("proc.args != a", ["a", "z"], True),
        ("proc.args != a", ["a"], False),
        ("proc.args contains zz", ["a", "xzzy"], True),
        ("proc.args startswith -", ["a", "-c"], True),
        ("proc.args startswith -", ["a", "c"], False),
        ("proc.args glob '*.sh'", ["x.sh"], True),
        ("proc.args pmatch (/tmp)", ["/tmp/x"], True),
        ("proc.args startswith allof (-, -c)", ["-c"], True),
    ],
)
def test_list_fields(evaluate: Eval, text: str, args: list[str], expected: bool) -> None:
    assert evaluate(text, {"proc.args": args}) is expected


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("fd.sip = 10.0.0.1", "10.0.0.1", True),
        ("fd.sip = 10.0.0.1", ipaddress.ip_address("10.0.0.1"), True),
        ("fd.sip = 10.0.0.1", "10.0.0.2", False),
        ("fd.sip != 10.0.0.1", "10.0.0.2", True),
        ("fd.sip in (10.0.0.0/8, 192.168.1.1)", "10.9.8.7", True),
        ("fd.sip in (10.0.0.0/8, 192.168.1.1)", "192.168.1.1", True),
        ("fd.sip in (10.0.0.0/8, 192.168.1.1)", "192.168.1.2", False),
        ("fd.sip = ::1", "::1", True),
        ("fd.sip in (fd00::/8)", "fd12::5", True),
        ("fd.sip = 10.0.0.1", "not an ip", False),
    ],
)
def test_ip_addresses(evaluate: Eval, text: str, value: object, expected: bool) -> None:
    assert evaluate(text, {"fd.sip": value}) is expected


def test_ipnet_field_compares_address_against_network(evaluate: Eval) -> None:
    assert evaluate("fd.snet = 10.0.0.0/8", {"fd.snet": "10.1.2.3"}) is True
    assert evaluate("fd.snet = 10.0.0.0/8", {"fd.snet": "11.1.2.3"}) is False


def test_ip_list_field(evaluate: Eval) -> None:
    assert evaluate("fd.ips in (10.0.0.0/8)", {"fd.ips": ["10.0.0.1", "10.2.0.1"]}) is True
    assert evaluate("fd.ips in (10.0.0.0/8)", {"fd.ips": ["10.0.0.1", "11.2.0.1"]}) is False
    assert evaluate("fd.ips intersects (10.0.0.0/8)", {"fd.ips": ["10.0.0.1", "11.2.0.1"]}) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("proc.name startswith oneof (ba, zz)", True),
        ("proc.name startswith anyof (zz, ba)", True),
        ("proc.name startswith oneof (zz, yy)", False),
        ("proc.name contains allof (as, sh)", True),
        ("proc.name contains allof (as, zz)", False),
        ("proc.name = oneof (bash, zsh)", True),
        ("proc.name != allof (zsh, csh)", True),
        ("proc.name endswith anyof (sh)", True),
    ],
)
def test_modifiers(evaluate: Eval, text: str, expected: bool) -> None:
    assert evaluate(text, {"proc.name": "bash"}) is expected


def test_boolean_structure(evaluate: Eval) -> None:
    values = {"proc.name": "bash", "evt.num": 3}
    assert evaluate("proc.name = bash and evt.num = 3", values) is True
    assert evaluate("proc.name = bash and evt.num = 4", values) is False
    assert evaluate("proc.name = zsh or evt.num = 3", values) is True
    assert evaluate("not (proc.name = zsh or evt.num = 4)", values) is True
    assert evaluate("not proc.name = bash or not evt.num = 3", values) is False


def test_field_arguments_reach_the_extractor(evaluate: Eval) -> None:
    values = {
        "proc.aname[2]": "sshd",
        "k8s.pod.label[app]": "web",
        "ka.uri.param[pretty]": "true",
        "evt.arg[flags]": "O_RDONLY",
        "evt.arg[0]": "3",
    }
    assert evaluate("proc.aname[2] = sshd", values) is True
    assert evaluate("k8s.pod.label.app = web", values) is True
    assert evaluate("k8s.pod.label[app] = web", values) is True
    assert evaluate("ka.uri.param[pretty] = true", values) is True
    assert evaluate("evt.arg.flags contains O_RDONLY", values) is True
    assert evaluate("evt.arg[0] = 3", values) is True


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("fd.sip != 10.0.0.0/8", "10.1.1.1", False),
        ("fd.sip != 10.0.0.0/8", "11.1.1.1", True),
        ("fd.sip = oneof (10.0.0.0/8, 1.1.1.1)", "1.1.1.1", True),
        ("fd.sip = oneof (10.0.0.0/8, 1.1.1.1)", "1.1.1.2", False),
        ("fd.sip != allof (10.0.0.0/8, 1.1.1.1)", "1.1.1.2", True),
        ("fd.sip != allof (10.0.0.0/8, 1.1.1.1)", "1.1.1.1", False),
    ],
)
def test_ip_inequality_and_modifiers(evaluate: Eval, text: str, value: str, expected: bool) -> None:
    assert evaluate(text, {"fd.sip": value}) is expected
    assert evaluate(text.replace("fd.sip", "fd.ips"), {"fd.ips": [value]}) is expected
