"""Fixtures for model tests: a small synthetic study."""
import pytest

from core.stats.simulate import simulate_cohort


@pytest.fixture(scope="session")
def small_cohort():
    """150 training and 60 validation patients, 300 features."""
    clinical, features = simulate_cohort(210, n_features=300, seed=5)
    return clinical.iloc[:150], features.iloc[:150], clinical.iloc[150:], features.iloc[150:]
