"""Pulumi entry point: one contest cluster (prd, dev or wsp) on Sakura Cloud. See README.md."""

from components.stack import deploy

deploy()
