"""Fixtures for model tests: a small synthetic study, and a key folder of their own."""
import pytest

from core.models.signing import HOME_VARIABLE
from core.stats.simulate import simulate_cohort


@pytest.fixture(scope="session", autouse=True)
def key_home(tmp_path_factory):
    """This installation's key folder for the model tests (never the user's own)."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("key-home")
        patch.setenv(HOME_VARIABLE, str(home))
        yield home


@pytest.fixture(scope="session")
def small_cohort():
    """150 training and 60 validation patients, 300 features."""
    clinical, features = simulate_cohort(210, n_features=300, seed=5)
    return clinical.iloc[:150], features.iloc[:150], clinical.iloc[150:], features.iloc[150:]
