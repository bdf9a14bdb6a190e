import json

import numpy as np
import pytest

from spectral_cvae.errors import OutOfDomainError, ParameterError
from spectral_cvae.parameters import PAPER_SPACE, Parameter, ParameterSpace


def test_paper_space_has_the_six_parameters_in_the_papers_order_with_its_ranges():
    assert PAPER_SPACE.names == ("teff", "logg", "vsini", "mh", "vmic", "resolution")
    assert PAPER_SPACE.units == ("K", "dex", "km / s", "dex", "km / s", "")
    np.testing.assert_array_equal(PAPER_SPACE.minimum, [4000, 2.0, 0, -1.5, 0, 1000])
    np.testing.assert_array_equal(PAPER_SPACE.maximum, [11000, 5.0, 300, 1.5, 4, 115000])


def test_normalize_maps_the_range_to_unit_interval_and_back(rng):
    values = rng.uniform(PAPER_SPACE.minimum, PAPER_SPACE.maximum, size=(100, 6))
    normalized = PAPER_SPACE.normalize(values)
    assert normalized.min() >= 0 and normalized.max() <= 1
    np.testing.assert_allclose(PAPER_SPACE.normalize(PAPER_SPACE.minimum), 0.0)
    np.testing.assert_allclose(PAPER_SPACE.normalize(PAPER_SPACE.maximum), 1.0)
    np.testing.assert_allclose(PAPER_SPACE.denormalize(normalized), values, rtol=1e-12)


def test_contains_accepts_bounds_and_rejects_points_outside():
    inside = [[4000, 2.0, 0, -1.5, 0, 1000], [11000, 5.0, 300, 1.5, 4, 115000]]
    outside = [[3999, 4.0, 10, 0, 1, 50000], [5000, 4.0, 10, 0, 1, 200000]]
    assert PAPER_SPACE.contains(inside).tolist() == [True, True]
    assert PAPER_SPACE.contains(outside).tolist() == [False, False]


def test_check_names_row_parameter_and_range_of_the_first_point_outside():
    values = [[5800, 4.4, 2, 0, 1, 50000], [5800, 4.4, 2, 0, 7.5, 50000]]
    with pytest.raises(
        OutOfDomainError, match=r"grid\.h5, spectrum 11: vmic = 7\.5 km / s is outside \[0, 4\]"
    ):
        PAPER_SPACE.check(values, source="grid.h5", first_row=10)


def test_as_array_takes_named_columns_in_any_order_and_names_missing_ones():
    mapping = {"resolution": 50000, "vmic": 1, "mh": 0, "vsini": 2, "logg": 4.4, "teff": 5800}
    np.testing.assert_array_equal(PAPER_SPACE.as_array(mapping), [[5800, 4.4, 2, 0, 1, 50000]])
    with pytest.raises(ParameterError, match=r"table\.csv: missing parameter\(s\) vmic"):
        PAPER_SPACE.as_array({k: v for k, v in mapping.items() if k != "vmic"}, source="table.csv")


def test_as_array_rejects_wrong_shape_and_non_finite_values():
    with pytest.raises(ParameterError, match=r"shape \(n, 6\)"):
        PAPER_SPACE.as_array(np.zeros((3, 5)))
    with pytest.raises(ParameterError, match=r"spectrum 1: parameter 'logg' is nan"):
        PAPER_SPACE.as_array([[5800, 4.4, 2, 0, 1, 5e4], [5800, np.nan, 2, 0, 1, 5e4]])


def test_json_round_trip_keeps_names_units_and_ranges():
    space = PAPER_SPACE.with_ranges(teff=(3500.0, 7000.0))
    again = ParameterSpace.from_json(json.loads(json.dumps(space.to_json())))
    assert again == space
    assert again["teff"].minimum == 3500.0 and again["logg"] == PAPER_SPACE["logg"]


def test_parameter_rejects_empty_or_inverted_range():
    with pytest.raises(ParameterError, match="maximum 1.0 must exceed minimum 2.0"):
        Parameter("x", "", 2.0, 1.0, "x")


def test_named_columns_of_different_lengths_are_refused_but_scalars_are_shared():
    columns = {"teff": [5000, 6000], "logg": 4.0, "vsini": 2, "mh": 0, "vmic": 1, "resolution": 5e4}
    assert PAPER_SPACE.as_array(columns).shape == (2, 6)
    with pytest.raises(ParameterError, match="differ in length: teff 2, logg 1"):
        PAPER_SPACE.as_array({**columns, "logg": [4.0]})


def test_a_log_scale_normalizes_the_logarithm_and_round_trips():
    space = PAPER_SPACE.with_scales(resolution="log")
    point = np.array([[7500.0, 3.5, 150.0, 0.0, 2.0, np.sqrt(1000.0 * 115000.0)]])
    np.testing.assert_allclose(space.normalize(point), 0.5)
    np.testing.assert_allclose(space.denormalize(space.normalize(point)), point)
    assert PAPER_SPACE.normalize(point)[0, 5] < 0.1
    assert ParameterSpace.from_dict(space.to_dict()) == space != PAPER_SPACE
    with pytest.raises(ParameterError, match="scale must be 'linear' or 'log'"):
        PAPER_SPACE.with_scales(resolution="sqrt")
    with pytest.raises(ParameterError, match="log scale needs a range above 0"):
        PAPER_SPACE.with_scales(vsini="log")


def test_the_physics_decoder_reads_a_log_scaled_resolution():
    from spectral_cvae.model.physics import SplitConditions

    space = PAPER_SPACE.with_scales(resolution="log")
    point = np.array([[5800.0, 4.4, 12.0, 0.1, 1.0, 5000.0]])
    base, vsini, resolution = SplitConditions(space.to_dict())(space.normalize(point))
    np.testing.assert_allclose(np.asarray(resolution), [5000.0], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(vsini), [12.0], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(base), space.normalize(point)[:, [0, 1, 3, 4]], rtol=1e-6)


def test_the_derivative_of_physical_by_normalized_values_follows_the_scale():
    space = PAPER_SPACE.with_scales(resolution="log")
    normalized = np.array([[0.2, 0.3, 0.4, 0.5, 0.6, 0.7]])
    step = 1e-6
    numeric = [
        (space.denormalize(normalized + step * np.eye(6)[k]) - space.denormalize(normalized))[0, k]
        / step
        for k in range(6)
    ]
    np.testing.assert_allclose(space.derivative(normalized)[0], numeric, rtol=1e-4)
    np.testing.assert_allclose(PAPER_SPACE.derivative(normalized)[0], PAPER_SPACE.maximum - PAPER_SPACE.minimum)
