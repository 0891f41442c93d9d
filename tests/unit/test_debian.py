"""The packaging's own logic that runs at build time, checked without a build."""

import importlib.util
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def reproducible_venv():
    """scripts/reproducible_venv.py, which debian/rules runs on the built venv."""
    spec = importlib.util.spec_from_file_location("reproducible_venv", TOP / "scripts" / "reproducible_venv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_venv_keeps_no_trace_of_the_build_directory(tmp_path):
    build = "/work/build/build-x1y2z3/subsite/debian/subsite/opt/venvs/subsite"
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = /usr/bin/python3.11 -m venv {build}\nversion = 3.11\n")
    script = b"#!/opt/venvs/subsite/bin/python\nfrom subsite.cli import main\n"
    (venv / "bin" / "subsite").write_bytes(script)
    info = venv / "lib" / "python3.11" / "site-packages" / "subsite-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "direct_url.json").write_text('{"url": "file:///work/build/build-x1y2z3/subsite/app"}')
    (info / "METADATA").write_text("Name: subsite\n")
    (info / "RECORD").write_bytes(
        b"../../../bin/subsite,sha256=pipsHashOfTheScriptWithTheBuildPath,280\r\n"
        b"subsite-1.0.0.dist-info/METADATA,sha256=kept,14\r\n"
        b"subsite-1.0.0.dist-info/direct_url.json,sha256=x,55\r\n"
        b"subsite-1.0.0.dist-info/RECORD,,\r\n"
    )
    assert "scripts/reproducible_venv.py $(VENV)" in (TOP / "debian" / "rules").read_text()
    fixed = reproducible_venv()
    fixed.fix(venv)
    assert (venv / "pyvenv.cfg").read_text() == "home = /usr/bin\nversion = 3.11\n"
    assert not (info / "direct_url.json").exists()
    assert (info / "RECORD").read_bytes() == (
        f"../../../bin/subsite,{fixed.record_hash(script)},{len(script)}\r\n".encode()
        + b"subsite-1.0.0.dist-info/METADATA,sha256=kept,14\r\n"
        b"subsite-1.0.0.dist-info/RECORD,,\r\n"
    )


def test_postrm_leaves_the_debconf_purge_to_debhelper():
    # dh_installdebconf adds db_purge at #DEBHELPER# (debian/templates exists);
    # a second copy of our own ran it twice on every purge.
    postrm = (TOP / "debian" / "postrm").read_text()
    assert (TOP / "debian" / "templates").is_file()
    assert "#DEBHELPER#" in postrm
    assert "db_purge" not in postrm and "confmodule" not in postrm
