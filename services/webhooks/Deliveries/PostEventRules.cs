using System.Text.Json;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// What the webhooks service checks of a <see cref="PostEvent"/> before it signs anything, though only the scheduling
/// service's broker user may publish one: a known event type, ids of the right kinds, and a post (<c>data</c>) that is
/// the event's own post in the event's own workspace. The store also refuses an event that puts a post it has seen in
/// another workspace (<see cref="DeliveryStore.RecordEventAsync"/>).
/// </summary>
public static class PostEventRules
{
    /// <summary>Why the event is refused; null when it is sound.</summary>
    public static string? Problem(PostEvent e)
    {
        if (e.Type == EventTypes.Test || !EventTypes.Known.Contains(e.Type))
        {
            return $"unknown event type '{e.Type}'";
        }

        if (!e.EventId.StartsWith("evt_", StringComparison.Ordinal) || !e.PostId.StartsWith("post_", StringComparison.Ordinal)
            || !e.WorkspaceId.StartsWith("ws_", StringComparison.Ordinal))
        {
            return "an event id, post id or workspace id of the wrong kind";
        }

        if (e.Data.ValueKind != JsonValueKind.Object
            || !e.Data.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString() != e.PostId
            || !e.Data.TryGetProperty("workspaceId", out var workspace) || workspace.ValueKind != JsonValueKind.String || workspace.GetString() != e.WorkspaceId)
        {
            return "data is not the event's post in the event's workspace";
        }

        return null;
    }
}

/// <summary>An event the webhooks service will not deliver: the consumer faults it, and MassTransit keeps it in the error queue.</summary>
public sealed class RefusedPostEventException(string message) : Exception(message);
