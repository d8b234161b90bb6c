"""Configuration: a profile of small typed parts, checked on construction; names are checked by cnr.preflight."""
from cnr.config.parts import QF_SET, BankTraining, ClassifierTraining, Compute, Data, Grid, Mechanism, Samples
from cnr.config.profile import (
                              ALIASES,
                              Profile,
                              canonical,
                              canonical_overrides,
                              parse_override,
                              setting_paths,
                              with_settings,
)
from cnr.config.profiles import PROFILES, get_profile
from cnr.config.schema import as_tuples

__all__ = ["ALIASES", "PROFILES", "QF_SET", "BankTraining", "ClassifierTraining", "Compute", "Data", "Grid",
           "Mechanism", "Profile", "Samples", "as_tuples", "canonical", "canonical_overrides", "get_profile",
           "parse_override", "setting_paths", "with_settings"]
