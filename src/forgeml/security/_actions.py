"""The one table of what each REST route does: its action and the resource it acts on.

Every route of the REST API has a line here (``tests/security/test_policy_routes.py`` fails for
one without). The resource is a reference path built from the route's path parameters
(``{name}``, ``{version}``...); a route over a whole collection acts on ``KIND/*``.
Actions end in a verb: ``Read`` and ``List`` only read (the ReadOnly policy grants ``*:Read`` and
``*:List``); the others change something.
"""

from __future__ import annotations

from dataclasses import dataclass

_TABLE = """
GET    /health                                    system:Health           system/health
GET    /jobs                                      jobs:List               job/*
GET    /jobs/{name}                               jobs:Read               job/{name}
POST   /jobs/{name}/stop                          jobs:Stop               job/{name}
GET    /jobs/{name}/logs                          jobs:Read               job/{name}
GET    /jobs/{name}/metrics                       jobs:Read               job/{name}
GET    /training-jobs/algorithms                  training:List           training-job/*
POST   /training-jobs                             training:Create         training-job/*
GET    /training-jobs                             training:List           training-job/*
GET    /training-jobs/{name}                      training:Read           training-job/{name}
POST   /training-jobs/{name}/stop                 training:Stop           training-job/{name}
GET    /training-jobs/{name}/logs                 training:Read           training-job/{name}
GET    /training-jobs/{name}/metrics              training:Read           training-job/{name}
GET    /training-jobs/{name}/model                training:Read           training-job/{name}
POST   /tuning-jobs                               tuning:Create           tuning-job/*
GET    /tuning-jobs                               tuning:List             tuning-job/*
GET    /tuning-jobs/{name}                        tuning:Read             tuning-job/{name}
GET    /tuning-jobs/{name}/trials                 tuning:Read             tuning-job/{name}
POST   /tuning-jobs/{name}/stop                   tuning:Stop             tuning-job/{name}
GET    /experiments                               experiments:List        experiment/*
POST   /experiments                               experiments:Create      experiment/*
GET    /experiments/{name}                        experiments:Read        experiment/{name}
DELETE /experiments/{name}                        experiments:Delete      experiment/{name}
GET    /experiments/{name}/runs                   experiments:List        experiment/{name}
POST   /experiments/{name}/runs                   experiments:Write       experiment/{name}
POST   /runs/search                               experiments:List        run/*
POST   /runs/compare                              experiments:List        run/*
GET    /runs/{experiment}/{run}                   experiments:Read        run/{experiment}/{run}
GET    /runs/{experiment}/{run}/metrics           experiments:Read        run/{experiment}/{run}
POST   /runs/{experiment}/{run}/metrics           experiments:Write       run/{experiment}/{run}
POST   /runs/{experiment}/{run}/params            experiments:Write       run/{experiment}/{run}
POST   /runs/{experiment}/{run}/tags              experiments:Write       run/{experiment}/{run}
POST   /runs/{experiment}/{run}/end               experiments:Write       run/{experiment}/{run}
GET    /lineage/{ref:path}                        lineage:Read            {ref}
GET    /events                                    events:List             event/*
GET    /datasets                                  datasets:List           dataset/*
POST   /datasets/ingest                           datasets:Write          dataset/*
POST   /datasets/import                           datasets:Write          dataset/*
POST   /datasets/{name}/upload                    datasets:Write          dataset/{name}
GET    /datasets/{name}                           datasets:Read           dataset/{name}
GET    /datasets/{name}/versions                  datasets:List           dataset/{name}
GET    /datasets/{name}/versions/{version}        datasets:Read           dataset/{name}:{version}
DELETE /datasets/{name}/versions/{version}        datasets:Delete         dataset/{name}:{version}
GET    /datasets/{name}/head                      datasets:Read           dataset/{name}
GET    /datasets/{name}/diff                      datasets:Read           dataset/{name}
POST   /datasets/{name}/records                   datasets:Write          dataset/{name}
POST   /datasets/{name}/records/flush             datasets:Write          dataset/{name}
GET    /datasets/{name}/export                    datasets:Read           dataset/{name}
POST   /datasets/{name}/profile                   datasets:Analyze        dataset/{name}
POST   /datasets/{name}/validate                  datasets:Analyze        dataset/{name}
GET    /datasets/{name}/suggested-rules           datasets:Read           dataset/{name}
POST   /datasets/{name}/drift                     datasets:Analyze        dataset/{name}
POST   /datasets/{name}/pii                       datasets:Analyze        dataset/{name}
POST   /datasets/{name}/recipe                    datasets:Write          dataset/{name}
POST   /datasets/{name}/split                     datasets:Write          dataset/{name}
GET    /datasets/{name}/profile.html              datasets:Read           dataset/{name}
GET    /datasets/{name}/validation.html           datasets:Read           dataset/{name}
GET    /datasets/{name}/reports/{kind}            datasets:Read           dataset/{name}
GET    /endpoints                                 endpoints:List          endpoint/*
POST   /endpoints                                 endpoints:Create        endpoint/*
GET    /endpoints/{name}                          endpoints:Read          endpoint/{name}
PUT    /endpoints/{name}                          endpoints:Update        endpoint/{name}
POST   /endpoints/{name}/weights                  endpoints:Update        endpoint/{name}
DELETE /endpoints/{name}                          endpoints:Delete        endpoint/{name}
GET    /endpoints/{name}/logs                     endpoints:Read          endpoint/{name}
POST   /endpoints/{name}/invocations              endpoints:Invoke        endpoint/{name}
GET    /feature-groups                            features:List           feature-group/*
POST   /feature-groups                            features:Create         feature-group/*
POST   /feature-groups/query                      features:Query          feature-group/*
POST   /feature-groups/training-sets              features:Query          feature-group/*
GET    /feature-groups/{name}                     features:Read           feature-group/{name}
DELETE /feature-groups/{name}                     features:Delete         feature-group/{name}
POST   /feature-groups/{name}/versions            features:Update         feature-group/{name}
PUT    /feature-groups/{name}/records             features:PutRecord      feature-group/{name}
GET    /feature-groups/{name}/records/{record_id} features:GetRecord      feature-group/{name}
POST   /feature-groups/{name}/records/batch-get   features:GetRecord      feature-group/{name}
DELETE /feature-groups/{name}/records/{record_id} features:DeleteRecord   feature-group/{name}
POST   /feature-groups/{name}/ingest              features:PutRecord      feature-group/{name}
POST   /feature-groups/{name}/stream              features:PutRecord      feature-group/{name}
GET    /feature-groups/{name}/snapshot            features:Read           feature-group/{name}
POST   /feature-groups/{name}/materialize         features:Update         feature-group/{name}
GET    /feature-groups/{name}/consistency         features:Read           feature-group/{name}
POST   /feature-groups/{name}/compact             features:Update         feature-group/{name}
POST   /evaluations                               evaluation:Create       evaluation/*
GET    /evaluations                               evaluation:List         evaluation/*
POST   /evaluations/compare                       evaluation:Create       evaluation/*
POST   /evaluations/cross-validate                evaluation:Create       evaluation/*
GET    /evaluations/{name}                        evaluation:Read         evaluation/{name}
GET    /evaluations/{name}/report.html            evaluation:Read         evaluation/{name}
POST   /model-cards                               models:Write            model-card/*
GET    /model-cards/{name}                        models:Read             model-card/{name}
POST   /clarify/bias                              clarify:Create          bias-report/*
POST   /clarify/analyze                           clarify:Create          bias-report/*
GET    /clarify/bias                              clarify:List            bias-report/*
GET    /clarify/bias/{name}                       clarify:Read            bias-report/{name}
GET    /clarify/bias/{name}/report.html           clarify:Read            bias-report/{name}
POST   /clarify/explanations                      clarify:Create          explanation/*
GET    /clarify/explanations                      clarify:List            explanation/*
GET    /clarify/explanations/{name}               clarify:Read            explanation/{name}
GET    /clarify/explanations/{name}/report.html   clarify:Read            explanation/{name}
GET    /model-package-groups                      models:List             model/*
POST   /model-package-groups                      models:Register         model/*
GET    /model-package-groups/{group}              models:Read             model/{group}
GET    /model-package-groups/{group}/versions     models:List             model/{group}
POST   /model-package-groups/{group}/versions     models:Register         model/{group}
POST   /model-package-groups/{group}/packages     models:Register         model/{group}
GET    /model-package-groups/{group}/versions/{version}                    models:Read      model/{group}:{version}
DELETE /model-package-groups/{group}/versions/{version}                    models:Delete    model/{group}:{version}
POST   /model-package-groups/{group}/versions/{version}/approval           models:Approve   model/{group}:{version}
PATCH  /model-package-groups/{group}/versions/{version}/metadata           models:Write     model/{group}:{version}
PUT    /model-package-groups/{group}/versions/{version}/model-card         models:Write     model/{group}:{version}
POST   /model-package-groups/{group}/versions/{version}/compile            models:Compile   model/{group}:{version}
GET    /model-package-groups/{group}/versions/{version}/compilation.html   models:Read      model/{group}:{version}
GET    /model-package-groups/{group}/versions/{version}/events             models:Read      model/{group}:{version}
PUT    /model-package-groups/{group}/aliases/{alias}                       models:Approve   model/{group}@{alias}
DELETE /model-package-groups/{group}/aliases/{alias}                       models:Approve   model/{group}@{alias}
POST   /transform-jobs                            transforms:Create       transform-job/*
GET    /transform-jobs                            transforms:List         transform-job/*
GET    /transform-jobs/{name}                     transforms:Read         transform-job/{name}
GET    /transform-jobs/{name}/output/{file}       transforms:Read         transform-job/{name}
POST   /transform-jobs/{name}/stop                transforms:Stop         transform-job/{name}
GET    /reports                                   reports:List            report/*
GET    /reports/{ref:path}                        reports:Read            {ref}
POST   /bundles                                   bundles:Upload          bundle/*
POST   /monitoring/baselines                      monitoring:Create       monitoring-baseline/*
GET    /monitoring/baselines                      monitoring:List         monitoring-baseline/*
GET    /monitoring/baselines/{baseline}           monitoring:Read         monitoring-baseline/{baseline}
GET    /monitoring/baselines/{baseline}/statistics.json   monitoring:Read    monitoring-baseline/{baseline}
GET    /monitoring/baselines/{baseline}/constraints.json  monitoring:Read    monitoring-baseline/{baseline}
PUT    /monitoring/baselines/{baseline}/constraints.json  monitoring:Update  monitoring-baseline/{baseline}
POST   /monitoring/executions                     monitoring:Create       monitoring-execution/*
GET    /monitoring/executions                     monitoring:List         monitoring-execution/*
GET    /monitoring/executions/{execution}         monitoring:Read         monitoring-execution/{execution}
GET    /monitoring/executions/{execution}/constraint_violations.json  monitoring:Read  monitoring-execution/{execution}
GET    /monitoring/executions/{execution}/statistics.json             monitoring:Read  monitoring-execution/{execution}
GET    /monitoring/executions/{execution}/report.html                 monitoring:Read  monitoring-execution/{execution}
GET    /monitoring/schedules                      monitoring:List         monitoring-schedule/*
POST   /monitoring/schedules                      monitoring:Create       monitoring-schedule/*
GET    /monitoring/schedules/{schedule}           monitoring:Read         monitoring-schedule/{schedule}
GET    /monitoring/schedules/{schedule}/executions  monitoring:Read       monitoring-schedule/{schedule}
POST   /monitoring/schedules/{schedule}/start     monitoring:Update       monitoring-schedule/{schedule}
POST   /monitoring/schedules/{schedule}/stop      monitoring:Update       monitoring-schedule/{schedule}
POST   /monitoring/ground-truth/{endpoint}        monitoring:PutGroundTruth  endpoint/{endpoint}
POST   /monitoring/model-quality                  monitoring:Create       monitoring-execution/*
POST   /monitoring/bias-baselines                 monitoring:Create       monitoring-baseline/*
POST   /monitoring/explainability-baselines       monitoring:Create       monitoring-baseline/*
POST   /monitoring/model-bias                     monitoring:Create       monitoring-execution/*
POST   /monitoring/model-explainability           monitoring:Create       monitoring-execution/*
POST   /monitoring/cbpe-baselines                 monitoring:Create       monitoring-baseline/*
GET    /alarms                                    alarms:List             alarm/*
POST   /alarms                                    alarms:Create           alarm/*
GET    /alarms/{name}                             alarms:Read             alarm/{name}
DELETE /alarms/{name}                             alarms:Delete           alarm/{name}
GET    /alarms/{name}/history                     alarms:Read             alarm/{name}
POST   /alarms/{name}/state                       alarms:Update           alarm/{name}
POST   /alarms/evaluate                           alarms:Evaluate         alarm/*
GET    /metrics                                   metrics:List            metric/*
POST   /metrics                                   metrics:Put             metric/*
GET    /metrics/statistics                        metrics:Read            metric/*
GET    /endpoints/{name}/deployment               endpoints:Read          endpoint/{name}
POST   /endpoints/{name}/async-invocations        endpoints:InvokeAsync   endpoint/{name}
GET    /endpoints/{name}/async-invocations/{inference_id}         endpoints:Read  endpoint/{name}
GET    /endpoints/{name}/async-invocations/{inference_id}/result  endpoints:Read  endpoint/{name}
GET    /endpoints/{name}/async-backlog            endpoints:Read          endpoint/{name}
GET    /pipelines                                 pipelines:List          pipeline/*
POST   /pipelines                                 pipelines:Create        pipeline/*
GET    /pipelines/{name}                          pipelines:Read          pipeline/{name}
POST   /pipelines/{name}/executions               pipelines:StartExecution  pipeline/{name}
GET    /pipelines/{name}/executions               pipelines:List          pipeline/{name}
GET    /pipeline-executions/{execution}           pipelines:Read          pipeline-execution/{execution}
POST   /pipeline-executions/{execution}/stop      pipelines:StopExecution   pipeline-execution/{execution}
POST   /pipeline-executions/{execution}/retry     pipelines:RetryExecution  pipeline-execution/{execution}
POST   /pipeline-callbacks/success                pipelines:SendStepResult  pipeline-execution/*
POST   /pipeline-callbacks/failure                pipelines:SendStepResult  pipeline-execution/*
GET    /rules                                     rules:List              event-rule/*
POST   /rules                                     rules:Create            event-rule/*
POST   /rules/test-pattern                        rules:TestEventPattern  event-rule/*
GET    /rules/{name}                              rules:Read              event-rule/{name}
DELETE /rules/{name}                              rules:Delete            event-rule/{name}
POST   /rules/{name}/enable                       rules:Update            event-rule/{name}
POST   /rules/{name}/disable                      rules:Update            event-rule/{name}
GET    /rules/{name}/firings                      rules:Read              event-rule/{name}
GET    /schedules                                 schedules:List          schedule/*
POST   /schedules                                 schedules:Create        schedule/*
GET    /schedules/{name}                          schedules:Read          schedule/{name}
DELETE /schedules/{name}                          schedules:Delete        schedule/{name}
POST   /schedules/{name}/enable                   schedules:Update        schedule/{name}
POST   /schedules/{name}/disable                  schedules:Update        schedule/{name}
GET    /schedules/{name}/firings                  schedules:Read          schedule/{name}
GET    /shadow-tests                              shadow-tests:List       shadow-test/*
POST   /shadow-tests                              shadow-tests:Create     shadow-test/*
GET    /shadow-tests/{name}                       shadow-tests:Read       shadow-test/{name}
GET    /shadow-tests/{name}/report                shadow-tests:Read       shadow-test/{name}
POST   /shadow-tests/{name}/stop                  shadow-tests:Stop       shadow-test/{name}
POST   /shadow-tests/{name}/promote               shadow-tests:Promote    shadow-test/{name}
GET    /endpoints/{name}/scaling                  endpoints:Read          endpoint/{name}
GET    /endpoints/{name}/scaling/activities       endpoints:Read          endpoint/{name}
PUT    /endpoints/{name}/scaling/{variant}/target   endpoints:UpdateScaling  endpoint/{name}
DELETE /endpoints/{name}/scaling/{variant}/target   endpoints:UpdateScaling  endpoint/{name}
PUT    /endpoints/{name}/scaling/{variant}/policies/{policy}           endpoints:UpdateScaling  endpoint/{name}
DELETE /endpoints/{name}/scaling/{variant}/policies/{policy}           endpoints:UpdateScaling  endpoint/{name}
PUT    /endpoints/{name}/scaling/{variant}/scheduled-actions/{action}  endpoints:UpdateScaling  endpoint/{name}
DELETE /endpoints/{name}/scaling/{variant}/scheduled-actions/{action}  endpoints:UpdateScaling  endpoint/{name}
PUT    /endpoints/{name}/variants/{variant}/capacity  endpoints:UpdateCapacity  endpoint/{name}
"""


@dataclass(frozen=True)
class RouteAction:
    """What a route does: an action on the resource its path parameters name."""

    action: str
    resource: str  # a template over the route's path parameters

    def resource_for(self, params: dict[str, str]) -> str:
        """The resource of one call: the template filled with its path parameters."""
        out = self.resource
        for key, value in params.items():
            out = out.replace(f"{{{key}}}", str(value)).replace(f"{{{key}:path}}", str(value))
        return out


def _parse(text: str) -> dict[tuple[str, str], RouteAction]:
    table: dict[tuple[str, str], RouteAction] = {}
    for line in text.strip().splitlines():
        method, path, action, resource = line.split()
        if (method, path) in table:
            raise ValueError(f"route {method} {path} is listed twice in the action table")
        table[(method, path)] = RouteAction(action, resource.replace(":path}", "}"))
    return table


ROUTE_ACTIONS: dict[tuple[str, str], RouteAction] = _parse(_TABLE)

# routes open without a credential: the API's documentation pages (``/openapi.json`` is not a
# route with dependencies and is open too). They hold no workspace data.
PUBLIC: frozenset[tuple[str, str]] = frozenset({("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs/oauth2-redirect")})


def actions() -> list[str]:
    """Every action a route performs, sorted (the list docs/security.md gives)."""
    return sorted({a.action for a in ROUTE_ACTIONS.values()})


def markdown_table() -> str:
    """The action table of docs/security.md, generated from the route table
    (``python -m forgeml.security._actions`` prints it; a test keeps the docs in step)."""
    by_action: dict[str, list[str]] = {}
    for (method, path), declared in ROUTE_ACTIONS.items():
        by_action.setdefault(declared.action, []).append(f"`{method} {path}`")
    lines = ["| action | routes |", "| --- | --- |"]
    lines += [f"| `{a}` | {', '.join(sorted(by_action[a]))} |" for a in sorted(by_action)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
