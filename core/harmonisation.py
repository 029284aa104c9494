"""ComBat harmonisation as a step of the analysis: fitted on the training centres, applied to
each validating centre from its own features.

The training centres are ComBat's batches, with the largest as the reference batch (left as
it is; with one training centre the training data are unchanged and only the other centres
move). A validating centre is harmonised by ``core.stats.combat.harmonise_new_centre`` from
its own features alone, as a centre receiving a bundle would: its outcomes are never read.
Features ComBat cannot standardise (missing values, constant within a training centre) are
left out of the analysis when it harmonises.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.stats.combat import MIN_PATIENTS, ComBat, harmonise_new_centre, most_shifted, shift_table

SHOWN = 6      # the most shifted features kept, before and after, for the plots


@dataclass(frozen=True)
class Harmonisation:
    """A fitted ComBat: ``combat`` (training batches), the features it harmonises, the reference."""

    combat: ComBat
    features: list[str]
    reference: str

    @classmethod
    def fit(cls, features: pd.DataFrame, batches: pd.Series) -> "Harmonisation":
        """Fit on the training patients' features (patients x features) and their centre labels."""
        usable = _harmonisable(features, batches)
        if not usable:
            raise ValueError("harmonisation: no feature is complete and varies within every training centre")
        reference = str(batches.value_counts().sort_index().idxmax())
        combat = ComBat(ref_batch=reference).fit(features[usable], batches.astype(str))
        return cls(combat, usable, reference)

    def training(self, features: pd.DataFrame, batches: pd.Series) -> pd.DataFrame:
        return self.combat.transform(features[self.features], batches.astype(str))

    def new_centre(self, features: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
        """A validating centre's harmonised features (patients with incomplete features get NaN)
        and a note when it cannot be harmonised (then all NaN)."""
        X = features.reindex(columns=self.features)
        complete = X.notna().all(axis=1)
        out = pd.DataFrame(np.nan, index=features.index, columns=self.features)
        if complete.sum() < MIN_PATIENTS:
            return out, (f"{int(complete.sum())} patient(s) with complete features, at least {MIN_PATIENTS} are "
                         "needed to estimate the centre's ComBat parameters: not harmonised, not scored")
        out.loc[complete] = harmonise_new_centre(self.combat.to_dict(), X.loc[complete]).to_numpy()
        return out, None

    def describe(self, before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame],
                 centres: dict[str, pd.Series]) -> dict:
        """JSON-ready: method, reference, feature count, ComBat's parameters, and the most shifted
        features' values by centre before and after (for the plot). ``centres``: each cohort's
        patients' centre labels (a pooled training cohort has several)."""
        parts = [(c, after[c].dropna()) for c in before]
        parts = [(c, a, before[c].loc[a.index, self.features]) for c, a in parts if len(a)]
        ids = np.concatenate([a.index.to_numpy() for _, a, _ in parts])
        labels = pd.Series(np.concatenate([centres[c].reindex(a.index).to_numpy() for c, a, _ in parts]))
        after_all = pd.concat([a for _, a, _ in parts], ignore_index=True)
        before_all = pd.concat([b for _, _, b in parts], ignore_index=True)
        shifts = shift_table(before_all, after_all, labels, reference=self.reference)
        shown = most_shifted(shifts, top=SHOWN)
        values = pd.concat([before_all[shown].assign(when="before", centre=labels, patient_id=ids),
                            after_all[shown].assign(when="after", centre=labels, patient_id=ids)], ignore_index=True)
        return {"method": "ComBat (parametric empirical Bayes, reference batch)", "reference": self.reference,
                "n_features": len(self.features), "params": self.combat.to_dict(), "shifts": shifts,
                "shown": shown, "values": values}


def _harmonisable(features: pd.DataFrame, batches: pd.Series) -> list[str]:
    complete = features.notna().all()
    varies = features.groupby(batches.to_numpy()).agg(lambda c: c.max() > c.min()).all()
    return [f for f in features.columns if complete[f] and varies[f]]
