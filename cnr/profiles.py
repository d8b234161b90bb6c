"""Old import path of the profiles (one release): they live in cnr.config now."""
from cnr.config import PROFILES, QF_SET, Profile, as_tuples, get_profile, parse_override  # noqa: F401
