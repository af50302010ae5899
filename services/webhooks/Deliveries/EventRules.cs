using System.Text.Json;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// What the webhooks service checks of a domain event before it signs anything, though only the scheduling service's
/// broker user may publish one: a type known for its kind of subject, ids of the right kinds, and <c>data</c> that is
/// the event's own subject as the REST API shows it (a post in the event's own workspace; an account). The store also
/// refuses an event that puts a post or an account it has seen in another workspace (<see cref="DeliveryStore.RecordEventsAsync"/>).
/// </summary>
public static class EventRules
{
    /// <summary>Why the event is refused; null when it is sound.</summary>
    public static string? Problem(IncomingEvent e)
    {
        var (types, prefix, subject) = e.Subject switch
        {
            EventSubject.Post => (EventTypes.OfPosts, "post_", "post"),
            EventSubject.Account => (EventTypes.OfAccounts, "acc_", "account"),
            _ => throw new ArgumentOutOfRangeException(nameof(e), e.Subject, null),
        };
        if (!types.Contains(e.Type))
        {
            return $"unknown {subject} event type '{e.Type}'";
        }

        if (!e.EventId.StartsWith("evt_", StringComparison.Ordinal) || !e.SubjectId.StartsWith(prefix, StringComparison.Ordinal)
            || !e.WorkspaceId.StartsWith("ws_", StringComparison.Ordinal))
        {
            return $"an event id, {subject} id or workspace id of the wrong kind";
        }

        bool isSubject = e.Data.ValueKind == JsonValueKind.Object && IsString(e.Data, "id", e.SubjectId) && e.Subject switch
        {
            EventSubject.Post => IsString(e.Data, "workspaceId", e.WorkspaceId),
            // GET /v1/social-accounts/{id}; it names no workspace, so only the store's history can tell that one.
            _ => IsString(e.Data, "platform") && IsString(e.Data, "handle") && IsString(e.Data, "status") && IsString(e.Data, "createdAt")
                && e.Data.TryGetProperty("displayName", out var name) && name.ValueKind is JsonValueKind.String or JsonValueKind.Null,
        };
        return isSubject ? null : e.Subject == EventSubject.Post
            ? "data is not the event's post in the event's workspace"
            : "data is not the event's account";
    }

    private static bool IsString(JsonElement data, string property, string? value = null)
        => data.TryGetProperty(property, out var p) && p.ValueKind == JsonValueKind.String && (value is null || p.GetString() == value);
}

/// <summary>An event the webhooks service will not deliver: the consumer faults it, and MassTransit keeps it in the error queue.</summary>
public sealed class RefusedEventException(string message) : Exception(message);
