"""Frozen records that are dataclasses without importing :mod:`dataclasses` at start-up.

``@dataclass(frozen=True)`` costs ``ringcap -w`` its import (with
``inspect``, ``ast``, ``dis``, ``tokenize``: about 70 M instructions) and
the generated code it compiles for each class.  :func:`frozen` makes the
same class from ordinary functions: the same constructor (positional or
keyword, defaults, ``default_factory``, ``__post_init__``), attributes,
``repr``, ``==``, ``hash``, ``__match_args__`` and immutability.  What only
:mod:`dataclasses` and :mod:`inspect` look at (``__dataclass_fields__``,
``__dataclass_params__``, ``__signature__``) is made on first use from a
real dataclass of the same fields, so ``dataclasses.fields``, ``asdict``,
``replace``, ``is_dataclass`` and ``inspect.signature`` work as before.
"""
from __future__ import annotations

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import dataclass_transform
else:
    def dataclass_transform(**kwargs):
        return lambda function: function

_MISSING = object()


class field:
    """``dataclasses.field``'s ``default``, ``default_factory``, ``compare`` and ``repr``."""

    __slots__ = ("default", "default_factory", "compare", "repr")

    def __init__(self, *, default=_MISSING, default_factory=_MISSING, compare: bool = True,
                 repr: bool = True) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr


class _FromDataclass:
    """A class attribute made on first use from the class's twin dataclass."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner):
        import dataclasses
        import inspect
        twin = dataclasses.dataclass(frozen=True)(type(owner.__name__, (), {
            "__module__": owner.__module__, "__qualname__": owner.__qualname__,
            "__annotations__": dict(owner._record_annotations),
            **{name: dataclasses.field(**{key: getattr(spec, key) for key in field.__slots__
                                          if getattr(spec, key) is not _MISSING})
               for name, spec in owner._record_fields.items()}}))
        owner.__dataclass_fields__ = twin.__dataclass_fields__
        owner.__dataclass_params__ = twin.__dataclass_params__
        owner.__signature__ = inspect.signature(twin)
        return getattr(owner, self.name) if instance is None else getattr(instance, self.name)


def _frozen_error(verb: str, name: str):
    import dataclasses
    return dataclasses.FrozenInstanceError(f"cannot {verb} field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls):
    """``@dataclass(frozen=True)`` for ``cls`` (fields from its annotations, in order)."""
    specs = {}
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, field) else field(default=value)
        if spec.default is _MISSING:
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            setattr(cls, name, spec.default)
        specs[name] = spec
    names = tuple(specs)
    shown = tuple(name for name in names if specs[name].repr)
    compared = tuple(name for name in names if specs[name].compare)
    post_init = getattr(cls, "__post_init__", None)
    qualname = cls.__qualname__
    seen = False
    for name in names:
        required = specs[name].default is _MISSING and specs[name].default_factory is _MISSING
        if required and seen:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        seen = seen or not required

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{qualname}.__init__() takes {len(names) + 1} positional "
                            f"arguments but {len(args) + 1} were given")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in specs:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument "
                                f"{name!r}")
            if name in values:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument "
                                f"{name!r}")
            values[name] = value
        attributes = self.__dict__
        missing = []
        for name in names:
            if name in values:
                attributes[name] = values[name]
            elif specs[name].default is not _MISSING:
                attributes[name] = specs[name].default
            elif specs[name].default_factory is not _MISSING:
                attributes[name] = specs[name].default_factory()
            else:
                missing.append(repr(name))
        if missing:
            raise TypeError(f"{qualname}.__init__() missing {len(missing)} required positional "
                            f"argument{'s' if len(missing) > 1 else ''}: "
                            + (" and ".join(missing) if len(missing) < 3
                               else ", ".join(missing[:-1]) + ", and " + missing[-1]))
        if post_init is not None:
            self.__post_init__()

    def __repr__(self):
        return (f"{type(self).__qualname__}("
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in shown) + ")")

    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return (tuple(getattr(self, name) for name in compared)
                    == tuple(getattr(other, name) for name in compared))
        return NotImplemented

    def __hash__(self):
        return hash(tuple(getattr(self, name) for name in compared))

    def __setattr__(self, name, value):
        if type(self) is cls or name in specs:
            raise _frozen_error("assign to", name)
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is cls or name in specs:
            raise _frozen_error("delete", name)
        super(cls, self).__delattr__(name)

    for function in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__):
        if function.__name__ in cls.__dict__:
            raise TypeError(f"{qualname} defines {function.__name__}, which frozen() makes")
        function.__qualname__ = f"{qualname}.{function.__name__}"
        setattr(cls, function.__name__, function)
    cls._record_fields = specs
    cls._record_annotations = {name: cls.__annotations__[name] for name in names}
    cls.__match_args__ = names
    for name in ("__dataclass_fields__", "__dataclass_params__", "__signature__"):
        setattr(cls, name, _FromDataclass(name))
    return cls
