using System.Text.Json;
using ScheduledPosts.Contracts.Messages;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>What a domain event is about: each kind of subject lives in one workspace, and its events are checked for it.</summary>
public enum EventSubject
{
    Post,
    Account,
}

/// <summary>
/// A domain event from the bus as the service records and delivers it, whatever it is about: a <see cref="PostEvent"/>
/// or an <see cref="AccountEvent"/>. <see cref="ScheduleVersion"/> is a post's only.
/// </summary>
public sealed record IncomingEvent(
    string EventId, string Type, string WorkspaceId, EventSubject Subject, string SubjectId, long? ScheduleVersion,
    DateTimeOffset OccurredAt, JsonElement Data)
{
    public static IncomingEvent From(PostEvent e)
        => new(e.EventId, e.Type, e.WorkspaceId, EventSubject.Post, e.PostId, e.ScheduleVersion, e.OccurredAt, e.Data);

    public static IncomingEvent From(AccountEvent e)
        => new(e.EventId, e.Type, e.WorkspaceId, EventSubject.Account, e.AccountId, null, e.OccurredAt, e.Data);

    public string? PostId => Subject == EventSubject.Post ? SubjectId : null;

    public string? AccountId => Subject == EventSubject.Account ? SubjectId : null;
}
