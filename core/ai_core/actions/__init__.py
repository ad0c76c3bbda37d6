"""Agent actions: side effects the model can ask for, run in the background.

    @ai.action("send_followup_email")
    def send_followup_email(to: str, subject: str, action_id: str) -> str:
        mailer.send(to, subject, idempotency_key=action_id)
        return "sent"

    chat = ai.conversation("openai/gpt-4o-mini").actions("send_followup_email")

The model sees each action as a tool. When it calls one, the request is
stored (``ai_agent_actions``, status ``requested``), :class:`AgentActionRequested`
is emitted with its ``action_id``, and the model is told at once that the
action was queued. The :class:`AgentActionListener` runs it in the background
(claiming it with a lease: status ``running``, ``attempts`` + 1), records
``succeeded`` or ``failed`` with the result or error, emits
:class:`AgentActionCompleted`, and appends the outcome to the conversation (to
the live conversation's next send, or straight to the store when the
conversation object is gone).

With a queue configured (``AI_QUEUE_URL``) and a database, the listener sends
the request to ``ai worker`` instead (:mod:`ai_core.actions.queued`), which
runs it the same way (:meth:`ActionManager.run`). A worker finds the function
by the ``register_actions`` hook, or in the modules named by ``[queue]
actions`` / ``AI_QUEUE_ACTIONS``, which it imports at start (registering there
with the module-level :func:`action` or with ``@ai.action``).

Guarantee: the outcome is recorded exactly once (the completing UPDATE is
conditional on the claim it made), and the action runs at least once: a
process killed mid-action leaves it ``running``; its lease (renewed while it
runs) expires, and :func:`resume_actions` (or, on the queue, the redelivered
message) runs it again. An action that declares an ``action_id`` parameter
receives the request's id, to make its side effect idempotent (an e-mail
provider's idempotency key), which turns at-least-once into effectively once.

Plugins register actions with the ``register_actions`` hook
(``register(ActionSpec(name, func))``). A conversation's tool approvers (the
MCP approval hook) see an action call like any function tool call, before it
is stored (and so before it is queued).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError, create_model

from ai_core import errors
from ai_core.actions.manager import ActionManager, ActionRow, ActionSpec, AgentActionListener, RunResult, declare
from ai_core.mcp.spec import ToolResult
from ai_core.pipeline.tools import FunctionTool
from ai_core.types import ToolSpec

if TYPE_CHECKING:
    from ai_core.app import AI
    from ai_core.pipeline.builder import ConversationBuilder

__all__ = [
    "ActionManager",
    "ActionRow",
    "ActionSpec",
    "ActionTool",
    "AgentActionListener",
    "RunResult",
    "action",
    "action_tools",
    "resume_actions",
]

_RESERVED = ("action_id",)


class ActionTool(FunctionTool):
    """An action as the model sees it: calling it stores the request and returns at once."""

    def __init__(self, manager: ActionManager, spec: ActionSpec, conversation: ConversationBuilder | None) -> None:
        self.func = spec.func
        self.manager = manager
        self.action = spec
        self.conversation = conversation
        fields: dict[str, Any] = {}
        for param in inspect.signature(spec.func).parameters.values():
            if param.name in _RESERVED:
                continue
            annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
            default = param.default if param.default is not inspect.Parameter.empty else ...
            fields[param.name] = (annotation, default)
        self._model = create_model(f"{spec.name}_arguments", **fields)
        schema = self._model.model_json_schema()
        schema.pop("title", None)
        self.spec = ToolSpec(
            name=spec.name, description=spec.description or inspect.getdoc(spec.func) or "", parameters=schema
        )

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            values = self._model.model_validate(arguments)
        except ValidationError as exc:
            return ToolResult(content=f"invalid arguments: {exc.errors(include_url=False)}", is_error=True)
        clean = values.model_dump(mode="json")
        row = await self.manager.request(self.action, clean, self.conversation)
        return ToolResult(
            content=f"action {self.action.name} requested (id {row.id}); it runs in the background and its "
            "outcome will be added to this conversation"
        )


def action_tools(ai: AI, conversation: ConversationBuilder | None, names: Sequence[str] = ()) -> list[FunctionTool]:
    manager = ActionManager.of(ai)
    known = manager.actions()
    wanted = list(names) or sorted(known)
    missing = [n for n in wanted if n not in known]
    if missing:
        raise errors.ConfigurationError(
            f"no action named {', '.join(map(repr, missing))} (registered: {', '.join(sorted(known)) or 'none'})"
        )
    return [ActionTool(manager, known[name], conversation) for name in wanted]


def action_decorator(
    ai: AI, name: str | None = None, *, description: str = "", timeout: float = 300.0
) -> Callable[[Any], Any]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        ActionManager.of(ai).register(ActionSpec(name or func.__name__, func, description, timeout))
        return func

    return register


def action(name: str | None = None, *, description: str = "", timeout: float = 300.0) -> Callable[[Any], Any]:
    """Decorator: register an action for every ``AI`` of this process, at import.

    Put such actions in a module that the application imports and that ``ai
    worker`` imports too (``[queue] actions = ["myapp.actions"]`` or
    ``AI_QUEUE_ACTIONS=myapp.actions``), and the workers run them. An action
    registered with ``@ai.action`` under the same name wins for that ``AI``.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        declare(ActionSpec(name or func.__name__, func, description, timeout))
        return func

    return register


async def resume_actions(ai: AI) -> int:
    """Run the actions a dead process left behind (see the module docstring)."""
    return await ActionManager.of(ai).aresume()
