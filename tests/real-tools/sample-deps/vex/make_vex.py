#!/usr/bin/env python3
"""Writes a CycloneDX 1.5 VEX document with cyclonedx-python-lib (the official library).

Why a script and not a scanner: in the environment that generated tests/data/real/, pip-audit
could not reach a vulnerability service (PyPI's JSON API answered 404, osv.dev was not
reachable) and npm's advisory endpoint refused the audit, so no scanner could write a CycloneDX
document with vulnerabilities. The statements below are the kind a team writes about its own
product: published advisories for the pins in ../pip-vulnerable/requirements.txt, with the
team's analysis. Usage: make_vex.py OUT.json
"""

import sys
from decimal import Decimal

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.vulnerability import (
    BomTarget,
    ImpactAnalysisJustification,
    ImpactAnalysisState,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.model import XsUri
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

bom = Bom()
bom.metadata.component = Component(name="sdl-gate-sample", version="1.0.0", type=ComponentType.APPLICATION)


def pypi(name: str, version: str) -> Component:
    c = Component(
        name=name,
        version=version,
        type=ComponentType.LIBRARY,
        bom_ref=f"pkg:pypi/{name}@{version}",
        purl=PackageURL(type="pypi", name=name, version=version),
    )
    bom.components.add(c)
    return c


jinja2 = pypi("jinja2", "2.10")
requests = pypi("requests", "2.19.1")
urllib3 = pypi("urllib3", "1.23")
osv = VulnerabilitySource(name="OSV", url=XsUri("https://osv.dev"))


def vuln(vid, comp, description, state=None, justification=None, detail=None, ratings=()):
    v = Vulnerability(
        bom_ref=f"{vid}/{comp.name}",
        id=vid,
        source=osv,
        description=description,
        ratings=list(ratings),
        affects=[BomTarget(ref=comp.bom_ref.value)],
    )
    if state is not None:
        v.analysis = VulnerabilityAnalysis(state=state, justification=justification, detail=detail)
    bom.vulnerabilities.add(v)


# Affected and rated: blocks at a `high` threshold.
vuln(
    "CVE-2018-18074", requests,
    "Requests sends an HTTP Authorization header to an http URI upon a redirect from https.",
    state=ImpactAnalysisState.EXPLOITABLE,
    ratings=[VulnerabilityRating(score=Decimal("7.5"), severity=VulnerabilitySeverity.HIGH,
                                 method=VulnerabilityScoreSource.CVSS_V3_1,
                                 vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")],
)
# In triage, no rating at all: rated high by sdl-gate (fail closed).
vuln(
    "CVE-2019-10906", jinja2,
    "In Pallets Jinja before 2.10.1, str.format_map allows a sandbox escape.",
    state=ImpactAnalysisState.IN_TRIAGE,
)
# Rated medium: below a `high` threshold.
vuln(
    "CVE-2020-28493", jinja2,
    "ReDoS in the urlize filter of Jinja2 before 2.11.3.",
    ratings=[VulnerabilityRating(severity=VulnerabilitySeverity.MEDIUM)],
)
# Set aside by the team's analysis: suppressed, with the justification shown.
vuln(
    "CVE-2024-22195", jinja2,
    "The xmlattr filter accepts keys containing spaces (HTML attribute injection).",
    state=ImpactAnalysisState.NOT_AFFECTED,
    justification=ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    detail="The service renders no template with the xmlattr filter.",
    ratings=[VulnerabilityRating(severity=VulnerabilitySeverity.MEDIUM)],
)
vuln(
    "CVE-2019-11236", urllib3,
    "CRLF injection via the request parameter.",
    state=ImpactAnalysisState.FALSE_POSITIVE,
    detail="urllib3 is vendored by requests here; the CRLF path is not used.",
    ratings=[VulnerabilityRating(severity=VulnerabilitySeverity.MEDIUM)],
)
vuln(
    "CVE-2018-20060", urllib3,
    "urllib3 does not remove the Authorization header on a cross-origin redirect.",
    state=ImpactAnalysisState.RESOLVED,
    ratings=[VulnerabilityRating(severity=VulnerabilitySeverity.CRITICAL)],
)

with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write(JsonV1Dot5(bom).output_as_string(indent=2))
