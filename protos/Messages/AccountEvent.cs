using System.Text.Json;

namespace ScheduledPosts.Contracts.Messages;

/// <summary>
/// A domain event about a social account, carried to subscribers as a webhook like a <see cref="PostEvent"/>.
/// Concrete events derive from it; MassTransit binds each derived type's exchange to this one.
/// </summary>
public record AccountEvent
{
    /// <summary>The event id (<c>evt_…</c>): the webhook id, stable across redeliveries.</summary>
    public string EventId { get; init; } = "";

    /// <summary>The webhook event type, e.g. <c>account.reauth_required</c>.</summary>
    public string Type { get; init; } = "";

    public string WorkspaceId { get; init; } = "";

    /// <summary>The social account's id (<c>acc_…</c>).</summary>
    public string AccountId { get; init; } = "";

    public DateTimeOffset OccurredAt { get; init; }

    /// <summary>The account as the REST API shows it at the moment of the event (GET /v1/social-accounts/{id}).</summary>
    public JsonElement Data { get; init; }
}

/// <summary>
/// <c>account.reauth_required</c>: the platform no longer honours the account's grant (revoked, expired past refresh),
/// app password or token; its due targets fail with <c>ACCOUNT_REAUTH_REQUIRED</c> until it is connected again.
/// </summary>
public sealed record AccountReauthRequired : AccountEvent;
