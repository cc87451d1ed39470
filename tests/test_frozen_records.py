"""ringcap's frozen records (``ringcap._frozen``) behave as the frozen dataclasses
they were: each is compared, call by call, with a real ``@dataclass(frozen=True)``
of the same fields (its twin), and ``dataclasses``/``inspect`` still take them."""
import copy
import dataclasses
import inspect
import os
import pickle
import subprocess
import sys

import pytest

from ringcap._frozen import field, frozen
from ringcap.fanout import Fanout
from ringcap.ring import Stats
from ringcap.sinks import Rotation, SinkSummary
from ringcap.sinks.driving import CaptureSummary, Progress, PumpResult

RECORDS = {
    Stats: [(), (1, 2), (1, 2, 3, 4, 5, 6, 7, 8, 9, None)],
    SinkSummary: [(), (3, 4, ("a", "b"), 0, 1)],
    Progress: [(1, 2, 0.5, 0, 0, 0), (1, 2, 0.5, 0, 0, 0, ("f",))],
    PumpResult: [(1, 2, None, SinkSummary(), "count"), (1, 2, Stats(), SinkSummary(), "count", 3, 1.5)],
    CaptureSummary: [(1, 2, 3, 4), (1, 2, 3, 4, ("f",), "count", 0, 5)],
    Rotation: [(), (100, 60.0, 10, 3, True)],
    Fanout: [(), (7, "lb", True, True, False, None)],
}


def _twin(cls):
    """The class as ``@dataclass(frozen=True)`` makes it (no __post_init__: no checks)."""
    namespace = {"__annotations__": dict(cls.__annotations__), "__qualname__": cls.__qualname__}
    for name, spec in cls._record_fields.items():
        namespace[name] = dataclasses.field(**{key: getattr(spec, key) for key in field.__slots__
                                               if getattr(spec, key) is not field().default})
    return dataclasses.dataclass(frozen=True)(type(cls.__name__, (), namespace))


def _outcome(call):
    try:
        return "ok", call()
    except Exception as exc:      # the type and message are what is compared
        return type(exc).__name__, str(exc).replace("__init__() ", "")


@pytest.mark.parametrize("cls", list(RECORDS), ids=lambda cls: cls.__name__)
def test_a_record_is_its_dataclass_twin(cls):
    twin = _twin(cls)
    assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in dataclasses.fields(twin)]
    assert cls.__match_args__ == twin.__match_args__
    assert str(inspect.signature(cls)) == str(inspect.signature(twin))
    for args in RECORDS[cls]:
        ours, theirs = cls(*args), twin(*args)
        assert repr(ours) == repr(theirs)
        assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
        assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)
        assert ours == cls(*args) and ours != theirs and ours != args
        assert _outcome(lambda: hash(ours)) == _outcome(lambda: hash(theirs))
        named = cls(**dict(zip(cls.__match_args__, args)))
        assert named == ours and vars(named) == vars(theirs)
        assert dataclasses.replace(ours) == ours
        assert copy.copy(ours) == ours and copy.deepcopy(ours) == ours
        assert pickle.loads(pickle.dumps(ours)) == ours
        for name in cls.__match_args__:
            assert getattr(ours, name) == getattr(theirs, name)
            for change in (lambda r: setattr(r, name, 1), lambda r: delattr(r, name)):
                assert _outcome(lambda: change(ours)) == _outcome(lambda: change(theirs))
                assert isinstance(_outcome(lambda: change(ours))[1], str)
        assert _outcome(lambda: setattr(ours, "other", 1)) == _outcome(
            lambda: setattr(theirs, "other", 1))
    fields = cls.__match_args__
    for call in (lambda c: c(*range(len(fields) + 1)), lambda c: c(nonsense=1),
                 lambda c: c(1, **{fields[0]: 1}), lambda c: c(**{fields[-1]: None})):
        ours, theirs = _outcome(lambda: call(cls)), _outcome(lambda: call(twin))
        if theirs[0] != "ok":
            assert ours[0] == theirs[0] == "TypeError"
            assert ours[1].split(" ")[-1] == theirs[1].split(" ")[-1], (ours, theirs)


def test_defaults_are_class_attributes_and_factories_are_called_per_record():
    assert Stats.packets == 0 and Rotation.aligned is False and CaptureSummary.unread == 0
    assert "extra" not in vars(SinkSummary)          # (default_factory: as dataclasses)
    assert SinkSummary().extra == {} and SinkSummary().extra is not SinkSummary().extra
    # compare=False fields: neither == nor hash sees them
    a, b = CaptureSummary(1, 2, 3, 4, files=("x",)), CaptureSummary(1, 2, 3, 4, stopped_by="y")
    assert a == b and hash(a) == hash(b)


def test_post_init_checks_still_run():
    with pytest.raises(ValueError, match="needs size"):
        Rotation(max_files=2)
    with pytest.raises(ValueError, match="unknown fanout mode"):
        Fanout(mode="nonsense")
    with pytest.raises(ValueError, match="group_id must be 0 to 65535"):
        Fanout().joined(70000)
    assert Fanout(mode="lb").joined(5) == Fanout(group_id=5, mode="lb")


def test_a_record_class_that_cannot_be_a_dataclass_is_refused():
    class Wrong:
        first: int = 0
        second: int
    with pytest.raises(TypeError, match="non-default argument 'second' follows default"):
        frozen(Wrong)

    class OwnRepr:
        first: int = 0

        def __repr__(self):
            return "mine"
    with pytest.raises(TypeError, match="OwnRepr defines __repr__, which frozen"):
        frozen(OwnRepr)


def test_a_subclass_keeps_the_records_fields():
    class Counted(Stats):
        note = "a class attribute, not a field"
    counted = Counted(1, 2)
    assert [f.name for f in dataclasses.fields(counted)] == list(Stats.__match_args__)
    assert dataclasses.asdict(counted) == dataclasses.asdict(Stats(1, 2))
    assert repr(counted).startswith("test_a_subclass_keeps_the_records_fields.<locals>.Counted(")
    assert counted != Stats(1, 2)                  # (another class, as dataclasses compare)
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=list)


def test_the_records_load_no_dataclasses_until_asked():
    # (as the command line: `import ringcap` of a library user imports numpy, and it inspect)
    code = ("import sys; sys.argv[0] = 'ringcap'\n"
            "from ringcap.ring import Stats\n"
            "from ringcap.sinks import SinkSummary, Rotation\n"
            "from ringcap.sinks.driving import pump, PumpResult\n"
            "s = Stats(1, 2)\n"
            "assert repr(s) and s == Stats(1, 2) and hash(s) and Rotation(10) != Rotation(20)\n"
            "assert 'dataclasses' not in sys.modules and 'inspect' not in sys.modules\n"
            "import dataclasses\n"
            "print(dataclasses.is_dataclass(s), dataclasses.asdict(s)['drops'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                         timeout=120, env={**os.environ, "PYTHONPATH": os.path.dirname(
                             os.path.dirname(__import__("ringcap").__file__))})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "2"]
