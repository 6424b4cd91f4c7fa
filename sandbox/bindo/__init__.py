"""Bindo POS simulator: the published REST API, signed webhooks, and a back office."""

from sandbox.bindo.app import create_app
from sandbox.bindo.config import BindoSimConfig
from sandbox.bindo.signing import sign
from sandbox.bindo.state import SimState

__all__ = ["BindoSimConfig", "SimState", "create_app", "sign"]
