"""Proposed fixes for open exceptions, computed from what the store and the rule sets
already hold; a person accepts or rejects each one (`reveni-khaos fix`)."""

from target_khaos_control.proposals.model import LIKELY, Edit, Proposal
from target_khaos_control.proposals.propose import propose

__all__ = ["LIKELY", "Edit", "Proposal", "propose"]
