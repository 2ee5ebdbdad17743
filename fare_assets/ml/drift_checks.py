"""The drift rules as asset checks: one check per rule, passed unless the rule fired.

Pure and import-light (the Dagster definitions import the check names).
"""

from __future__ import annotations

CHECKS: dict[str, str] = {
    "drift_ks": "KS distance of a feature or the predictions from the baseline (>= 0.10 and significant).",
    "drift_psi": "PSI of a feature or the predictions against the baseline's bins (>= 0.25 and significant).",
    "drift_fare_level": "Median log(actual / predicted) moved by 10% or more from the baseline's (sign test).",
    "drift_mae_rise": "MAE rose by 75% or more of the baseline MAE (significant at the window's size).",
    "drift_volume": "Trips per hour fell to a quarter or rose fourfold against the baseline (Poisson test).",
}


def rule_of(check_name: str) -> str:
    return check_name.removeprefix("drift_")


def judged(result: dict, rule: str) -> bool:
    """Whether the window was big and long enough for the rule to be judged at all."""
    if rule in ("ks", "psi"):
        from fare_assets.ml.drift_rules import PSI_ONLY  # scipy: only where windows are judged

        return any(stats["eligible"] and (rule == "psi" or column not in PSI_ONLY)
                   for column, stats in result.get("columns", {}).items())
    if rule in ("fare_level", "mae_rise"):
        return "mae_change_z" in result
    return "volume_pvalue" in result


def check_outcomes(result: dict) -> list[dict]:
    """Every declared check, each with `passed` and its metadata, for one evaluate_window result."""
    outcomes = []
    for name in CHECKS:
        rule = rule_of(name)
        findings = [f for f in result["fired"] if f["rule"] == rule]
        metadata = {"status": result["status"], "rows": int(result["rows"]), "judged": judged(result, rule)}
        if findings:
            worst = min(findings, key=lambda f: f["pvalue"])
            metadata.update(
                columns=", ".join(str(f["column"]) for f in findings),
                value=round(float(worst["value"]), 4), threshold=float(worst["threshold"]),
                pvalue=float(worst["pvalue"]), alpha=float(worst["alpha"]),
            )
        outcomes.append({"check_name": name, "passed": not findings, "metadata": metadata})
    return outcomes


def fired_rules(result: dict) -> list[str]:
    """The rules that fired in an evaluate_window result, each once, in firing order."""
    return list(dict.fromkeys(f["rule"] for f in result.get("fired", [])))
