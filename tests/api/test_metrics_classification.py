"""Classification metrics over HTTP, each number checked against scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from .conftest import Api
from .helpers import HOUR, T0, approx, window

pytestmark = pytest.mark.anyio


def _binary_data(seed: int, n: int, classes: tuple[Any, Any]) -> list[dict[str, Any]]:
    """Events of a binary model: classes[1] is the positive class; some lack a score."""
    rng = np.random.default_rng(seed)
    neg, pos = classes
    y = rng.random(n) < 0.35
    # A score that is informative but imperfect, with some exact ties.
    score = np.clip(np.round(0.5 * y + rng.normal(0.3, 0.22, n), 2), 0.0, 1.0)
    pred = np.where(rng.random(n) < 0.15, ~(score >= 0.5), score >= 0.5)
    events = []
    for i in range(n):
        ev: dict[str, Any] = {
            "model": "churn",
            "id": f"b-{i}",
            "timestamp": T0 + int(i * HOUR / n),
            "prediction": pos if pred[i] else neg,
            "label": pos if y[i] else neg,
            "latency_ms": float(rng.uniform(5, 50)),
        }
        if i % 10 != 3:
            ev["score"] = float(score[i])
        events.append(ev)
    return events


def _check_binary(m: dict[str, Any], events: list[dict[str, Any]], pos: str) -> None:
    y = [_canon(e["label"]) for e in events]
    p = [_canon(e["prediction"]) for e in events]
    c = m["classification"]
    assert m["labeled_count"] == len(events)
    assert c["average"] == "binary"
    assert c["positive_label"] == pos
    assert c["accuracy"] == approx(accuracy_score(y, p))
    assert c["precision"] == approx(precision_score(y, p, pos_label=pos, zero_division=0))
    assert c["recall"] == approx(recall_score(y, p, pos_label=pos, zero_division=0))
    assert c["f1"] == approx(f1_score(y, p, pos_label=pos, zero_division=0))
    assert c["f1_macro"] == approx(f1_score(y, p, average="macro", zero_division=0))
    assert c["f1_weighted"] == approx(f1_score(y, p, average="weighted", zero_division=0))
    labels = sorted(set(y) | set(p))
    assert c["confusion_matrix"] == {
        "labels": labels,
        "matrix": confusion_matrix(y, p, labels=labels).tolist(),
    }
    scored = [(yy == pos, e["score"]) for yy, e in zip(y, events, strict=True) if "score" in e]
    ys = np.array([s[0] for s in scored])
    ps = np.array([s[1] for s in scored])
    assert c["roc_auc"] == approx(roc_auc_score(ys, ps))
    assert c["log_loss"] == approx(log_loss(ys, ps, labels=[False, True]))


def _canon(v: Any) -> str:
    """The class name the API reports for a JSON value (1, 1.0 and "1" are the same class)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


async def test_binary_string_labels_declared_positive(api: Api) -> None:
    await api.put_model("churn", task="classification", positive_label="churn")
    events = _binary_data(seed=11, n=500, classes=("stay", "churn"))
    res = await api.events(events)
    assert res["accepted"] == 500
    m = await api.metrics("churn", window(T0, T0 + HOUR))
    assert m["count"] == 500
    _check_binary(m, events, "churn")


async def test_binary_declared_positive_label_wins_over_alphabetical(api: Api) -> None:
    """With the positive label "stay" the binary numbers flip to that class."""
    await api.put_model("churn", task="classification", positive_label="stay")
    events = _binary_data(seed=12, n=300, classes=("churn", "stay"))
    await api.events(events)
    m = await api.metrics("churn", window(T0, T0 + HOUR))
    _check_binary(m, events, "stay")


async def test_binary_zero_one_ints_positive_inferred(api: Api) -> None:
    """Numbers would mean regression, so the task is declared; the positive label is inferred."""
    info = await api.put_model("churn", task="classification")
    assert info["task"] == "classification" and info["positive_label"] is None
    events = _binary_data(seed=13, n=400, classes=(0, 1))
    for e in events[::2]:
        e["label"] = float(e["label"])  # 1.0 and 1 are the same class
    await api.events(events)
    m = await api.metrics("churn", window(T0, T0 + HOUR))
    _check_binary(m, events, "1")


@pytest.mark.parametrize("classes", [("0", "1"), (False, True)], ids=["strings01", "booleans"])
async def test_binary_task_and_positive_inferred(api: Api, classes: tuple[Any, Any]) -> None:
    events = _binary_data(seed=14, n=400, classes=classes)
    await api.events(events)
    info = (await api.client.get("/v1/models/churn")).json()
    assert info["task"] == "classification" and info["task_declared"] is None
    m = await api.metrics("churn", window(T0, T0 + HOUR))
    _check_binary(m, events, _canon(classes[1]))


async def test_multiclass_probability_objects(api: Api) -> None:
    rng = np.random.default_rng(21)
    classes = ["bird", "cat", "dog", "fish"]
    n = 600
    y = rng.integers(0, 4, n)
    events = []
    probs = np.zeros((n, 4))
    for i in range(n):
        alpha = np.ones(4)
        alpha[y[i]] += 2.5 * rng.random()  # informative, not perfect
        p = rng.dirichlet(alpha)
        probs[i] = p
        events.append(
            {
                "model": "animals",
                "id": f"m-{i}",
                "timestamp": T0 + i,
                "prediction": classes[int(np.argmax(p))],
                "label": classes[y[i]],
                "score": {c: float(v) for c, v in zip(classes, p, strict=True)},
                "latency_ms": 3.0,
            }
        )
    await api.events(events)
    m = await api.metrics("animals", window(T0, T0 + HOUR))
    c = m["classification"]
    yt = [classes[k] for k in y]
    yp = [e["prediction"] for e in events]
    assert c["average"] == "macro" and c["positive_label"] is None
    assert c["accuracy"] == approx(accuracy_score(yt, yp))
    assert c["f1"] == approx(f1_score(yt, yp, average="macro", zero_division=0))
    assert c["f1_macro"] == approx(f1_score(yt, yp, average="macro", zero_division=0))
    assert c["f1_weighted"] == approx(f1_score(yt, yp, average="weighted", zero_division=0))
    assert c["precision"] == approx(precision_score(yt, yp, average="macro", zero_division=0))
    assert c["recall"] == approx(recall_score(yt, yp, average="macro", zero_division=0))
    assert c["confusion_matrix"] == {
        "labels": classes,
        "matrix": confusion_matrix(yt, yp, labels=classes).tolist(),
    }
    assert c["roc_auc"] == approx(
        roc_auc_score(yt, probs, multi_class="ovr", average="macro", labels=classes)
    )
    assert c["log_loss"] == approx(log_loss(yt, probs, labels=classes))


async def test_binary_scores_as_probability_objects(api: Api) -> None:
    """A binary model may send {class: probability}; AUC and log loss use the positive class."""
    await api.put_model("spam", task="classification", positive_label="spam")
    rng = np.random.default_rng(22)
    n = 300
    y = rng.random(n) < 0.4
    p_spam = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1)
    events = [
        {
            "model": "spam",
            "id": str(i),
            "timestamp": T0 + i,
            "prediction": "spam" if p_spam[i] >= 0.5 else "ham",
            "label": "spam" if y[i] else "ham",
            "score": {"spam": float(p_spam[i]), "ham": float(1 - p_spam[i])},
        }
        for i in range(n)
    ]
    await api.events(events)
    c = (await api.metrics("spam", window(T0, T0 + HOUR)))["classification"]
    assert c["roc_auc"] == approx(roc_auc_score(y, p_spam))
    assert c["log_loss"] == approx(log_loss(y, p_spam, labels=[False, True]))
