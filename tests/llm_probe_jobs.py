"""A job for the canary test, loaded by workers through SCHEDULER_JOB_MODULES.

Its prompt comes from a file (params carry only the path, since params are stored) and it returns
only a hash of the answer, so anything of the prompt or the answer found stored afterwards was
stored by the platform, not by the job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator import llm
from orchestrator.context import RunContext
from orchestrator.registry import job


@job("llm_probe", description="Test only: sends the prompt in params.prompt_file to the model.")
def llm_probe(ctx: RunContext) -> Mapping[str, Any]:
    prompt = Path(str(ctx.params["prompt_file"])).read_text()
    completion = llm.chat(ctx, [{"role": "user", "content": prompt}])
    ctx.logger.info("probe got %r", completion)  # repr() must not reveal the text
    return {"response_sha256": hashlib.sha256(completion.text.encode()).hexdigest()}
