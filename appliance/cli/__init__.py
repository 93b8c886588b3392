"""The `appliance` command, assembled here and only here: each module defines its commands,
this file hangs them on the tree (no registration as a side effect of an import).

Exit codes: 0 success; 1 the check or request failed; 2 usage or configuration error;
3 the supervisor's restart budget ran out; 4 a worker cannot start.
"""

from __future__ import annotations

import click

from . import dialogue, field, liveness, speech, sync, tools
from .base import config_group, config_show, config_validate, main, models, run, simulate, status

__all__ = ["main"]

for command in (
    run,
    status,
    models,
    config_group,
    simulate,  # the service and its set-up
    tools.enrol,
    tools.identify,
    tools.users,
    tools.transcribe,
    tools.say,
    tools.db,
    sync.sync,
    liveness.liveness,
    field.doctor_cmd,
    field.setup,
    field.bench_cmd,
    speech.speech_eval,
    dialogue.classify_eval,
):
    main.add_command(command)
# the American spelling of earlier releases, kept for technicians' scripts, not listed in --help
main.add_command(
    click.Command("enroll", callback=tools.enrol.callback, params=tools.enrol.params, hidden=True)
)
for command in (
    config_show,
    config_validate,
    field.config_get,
    field.config_set,
    field.config_diff,
    field.config_services,
):
    config_group.add_command(command)
for command in (sync.simulate_sebox, sync.simulate_tencent, liveness.simulate_liveness_api):
    simulate.add_command(command)
