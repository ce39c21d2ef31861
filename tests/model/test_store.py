"""The stored form: explicit artifacts (JSON and LightGBM model text), loaded back to the same predictions, and
every way a folder can be wrong refused with a message naming the file and key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from features.contract import LeadBatch
from model import LeadModel, ModelFormatError, load_model, save_model
from simulator import SimulatedHistory


@pytest.fixture(scope="module")
def stored(lead_model: LeadModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(lead_model, tmp_path_factory.mktemp("stored") / "model")


def _copy(stored: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(stored, tmp_path / "model"))


def _edit(folder: Path, change: Any) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    change(manifest)
    (folder / "model.json").write_text(json.dumps(manifest))


def test_round_trip_gives_identical_predictions(lead_model: LeadModel, stored: Path, history: SimulatedHistory) -> None:
    assert sorted(p.name for p in stored.iterdir()) == ["classifier.txt", "days.txt", "hours.txt", "model.json"]
    back = load_model(stored)
    batch = LeadBatch(history.leads.sample(300, random_state=8).reset_index(drop=True), history.events)
    a, b = lead_model.predict(batch, explain=True), back.predict(batch, explain=True)
    for name in ("p_close", "expected_hours", "expected_days", "contributions", "values"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert back.metadata["calibration"] == lead_model.calibrator.method
    assert back.schema == lead_model.schema
    assert lead_model.reference is not None and back.reference is not None
    assert back.reference.to_dict() == lead_model.reference.to_dict()


def test_the_training_reference_covers_every_modelled_feature_and_the_score(lead_model: LeadModel) -> None:
    ref = lead_model.reference
    assert ref is not None
    assert list(ref.features) == lead_model.columns
    for name, dist in [*ref.features.items(), ("score", ref.score)]:
        assert dist.shares.sum() == pytest.approx(1.0), name
    assert ref.source_mix is not None and set(ref.source_mix.labels) == set(lead_model.schema.categories["source"])
    assert 0 < ref.positive_rate < 1 and ref.period["to"] > ref.period["from"]


def test_a_model_stored_before_the_reference_loads_without_one(stored: Path, tmp_path: Path) -> None:
    folder = _copy(stored, tmp_path)
    _edit(folder, lambda m: m.pop("reference"))
    assert load_model(folder).reference is None


def test_nothing_stored_is_a_pickle(stored: Path) -> None:
    for path in stored.iterdir():
        head = path.read_bytes()[:2]
        assert head not in (b"\x80\x03", b"\x80\x04", b"\x80\x05"), path  # pickle protocol headers
    json.loads((stored / "model.json").read_text())


def _drop_hours_file(folder: Path) -> None:
    (folder / "hours.txt").unlink()


def _corrupt_classifier(folder: Path) -> None:
    (folder / "classifier.txt").write_text("tree\nversion=v4\nnot a model\n")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "model.json").unlink(), r"model\.json: missing; this is not a leadrank model folder"),
        (lambda f: (f / "model.json").write_text("{not json"), r"model\.json: not readable JSON"),
        (lambda f: _edit(f, lambda m: m.update(format_version=99)), r"key 'format_version' is 99"),
        (lambda f: _edit(f, lambda m: m.update(format="other")), r"key 'format' is not"),
        (lambda f: _edit(f, lambda m: m["feature_schema"].update(windows="x")), r"feature schema key 'windows'"),
        (lambda f: _edit(f, lambda m: m["calibration"].update(method="magic")), r"calibration key 'method'"),
        (lambda f: _edit(f, lambda m: m["boosters"].update(classifier="../x.txt")), r"'boosters.classifier'"),
        (lambda f: _edit(f, lambda m: m.update(default_hours=-1)), r"key 'default_hours'"),
        (lambda f: _edit(f, lambda m: m["reference"]["score"].update(kind="odd")), r"'reference\.score\.kind'"),
        (lambda f: _edit(f, lambda m: m["reference"].update(version=9)), r"key 'reference\.version' is 9"),
        (_drop_hours_file, r"hours\.txt: cannot read the hours booster"),
        (_corrupt_classifier, r"classifier\.txt: not a LightGBM model"),
        (
            lambda f: _edit(f, lambda m: m["feature_schema"]["categories"]["industry"].append("new")),
            None,  # more categories than the boosters were trained on are harmless codes: loads
        ),
        (
            lambda f: _edit(f, lambda m: m["feature_schema"].update(windows=[7, 30])),
            r"its engagement features differ from what its stage map gives",
        ),
    ],
)
def test_a_damaged_folder_is_refused_naming_what_is_wrong(
    stored: Path, tmp_path: Path, damage: Any, message: str | None
) -> None:
    folder = _copy(stored, tmp_path)
    damage(folder)
    if message is None:
        load_model(folder)
        return
    with pytest.raises(ModelFormatError, match=message):
        load_model(folder)


def test_boosters_of_other_features_are_refused(stored: Path, tmp_path: Path, boosters: dict[str, Any]) -> None:
    folder = _copy(stored, tmp_path)
    (folder / "days.txt").write_text(next(iter(boosters.values())).model_to_string())
    with pytest.raises(ModelFormatError, match=r"the days booster's features differ from the model input's columns"):
        load_model(folder)
