"""The agreement page: how often reviewers agree with the model, overall, per category, per
policy version and per day, with the confusion matrix. Any reviewer may view it (it measures
their own work against the model); tenant-scoped users see only their tenant."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moderation.console import params
from moderation.console.auth import ReviewerDep
from moderation.console.charts import confusion_matrix_svg, line_chart_svg
from moderation.console.params import AgreementForm
from moderation.console.render import render
from moderation.review.agreement import AgreementFilter, agreement
from moderation.storage.db import read_scope
from moderation.web.deps import DbUrlDep

router = APIRouter()


@router.get("/agreement", name="agreement")
def agreement_page(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    form: Annotated[AgreementForm, Query()],
) -> Response:
    """Model-vs-reviewer agreement under the filter."""
    page_of = partial(render, request, "agreement.html", user, form=form.fields())
    try:
        flt = AgreementFilter(
            policy_slug=params.text(form.policy),
            policy_version=params.text(form.version),
            tenant_id=user.tenant_id,
            date_from=params.day(form.date_from),
            date_to=params.day(form.date_to, end=True),
        )
    except ValueError:
        return page_of(status_code=400, report=None, error="dates are YYYY-MM-DD")
    with read_scope(db_url) as session:
        report = agreement(session, flt)
    over_time = [(day.isoformat(), rate.rate) for day, rate in report.per_day]
    return page_of(
        report=report,
        error=None,
        line_svg=line_chart_svg(over_time, title="agreement over time"),
        matrix_svg=confusion_matrix_svg(report.confusion, report.labels),
    )
