"""Pin the public API: a change here is a change users see."""

import fintwin.data
import fintwin.exceptions
import fintwin.world


def test_world_api() -> None:
    assert sorted(fintwin.world.__all__) == ["PRESETS", "Preset", "build_model", "simulate"]


def test_data_api() -> None:
    assert {"Manifest", "World", "WorldWriter", "open_world", "world_hashes"} <= set(
        fintwin.data.__all__
    )


def test_exception_hierarchy_is_rooted_in_builtins() -> None:
    e = fintwin.exceptions
    assert issubclass(e.ParameterError, ValueError) and issubclass(e.DataError, ValueError)
    assert issubclass(e.WorldDirectoryError, OSError)
    for name in e.__all__:
        assert issubclass(getattr(e, name), e.FintwinError)


def test_stress_api() -> None:
    import fintwin.stress

    assert {"AssetClass", "irb_risk_weight", "risk_weighted_assets"} <= set(fintwin.stress.__all__)
    assert {c.value for c in fintwin.stress.AssetClass} >= {
        "corporate",
        "sme",
        "mortgage",
        "revolving",
        "other_retail",
    }
