using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>Between the core's views (what REST serializes) and the typed messages of scheduling.proto.</summary>
internal static class Messages
{
    public static V1.Post Post(PostView post, string etag)
    {
        var message = new V1.Post
        {
            Id = post.Id,
            Status = PostStatusOf(post.Status),
            Caption = post.Caption,
            ScheduledFor = Time(post.ScheduledFor),
            Etag = etag,
            CreateTime = Time(post.CreatedAt),
            UpdateTime = Time(post.UpdatedAt),
            Timezone = post.Timezone ?? "",
            PublishTime = Time(post.PublishedAt),
            CancelTime = Time(post.CancelledAt),
            CancelReason = post.CancelReason ?? "",
            ScheduleVersion = post.ScheduleVersion,
            CreateKeyId = post.CreatedByKeyId ?? "",
        };
        message.Targets.AddRange(post.Targets.Select(Target));
        message.MediaIds.AddRange(post.Media.OrderBy(m => m.Order).Select(m => m.MediaId));
        message.Metadata.Add(post.Metadata.ToDictionary());
        return message;
    }

    private static V1.Target Target(TargetView target) => new()
    {
        Id = target.Id,
        SocialAccountId = target.SocialAccountId,
        Platform = target.Platform,
        Status = TargetStatusOf(target.Status),
        ExternalPostId = target.ExternalPostId ?? "",
        ExternalUrl = target.ExternalUrl ?? "",
        ErrorCode = target.ErrorCode ?? "",
        ErrorMessage = target.ErrorMessage ?? "",
        CaptionOverride = target.CaptionOverride ?? "",
        FirstComment = target.FirstComment ?? "",
        PublishTime = Time(target.PublishedAt),
        AttemptCount = target.AttemptCount,
        LastAttemptTime = Time(target.LastAttemptAt),
    };

    public static V1.DeletePostResponse Deleted(DeletedPost deleted)
    {
        var message = new V1.DeletePostResponse { PostId = deleted.Id };
        message.Targets.AddRange(deleted.Targets.Select(t => new V1.DeletedTarget { Id = t.Id, Platform = t.Platform, Status = TargetStatusOf(t.Status) }));
        return message;
    }

    public static V1.PostAuditEvent AuditEvent(AuditEntry entry) => new()
    {
        Action = entry.Action,
        ActorKeyId = entry.ActorKeyId ?? "",
        Reason = entry.Reason ?? "",
        OldTime = Time(entry.OldTime),
        NewTime = Time(entry.NewTime),
        CreateTime = Time(entry.At),
    };

    public static V1.SocialAccount SocialAccount(SocialAccountView account) => new()
    {
        Id = account.Id,
        Platform = account.Platform,
        Handle = account.Handle,
        DisplayName = account.DisplayName ?? "",
        Status = account.Status switch
        {
            AccountStatuses.Active => V1.SocialAccountStatus.Active,
            AccountStatuses.Disconnected => V1.SocialAccountStatus.Disconnected,
            AccountStatuses.ReauthRequired => V1.SocialAccountStatus.ReauthRequired,
            _ => V1.SocialAccountStatus.Unspecified,
        },
        CreateTime = Time(account.CreatedAt),
    };

    public static CreateTargetRequest? TargetSpec(V1.TargetSpec target)
        => new(NullIfEmpty(target.SocialAccountId), NullIfEmpty(target.CaptionOverride), NullIfEmpty(target.FirstComment));

    public static V1.PostStatus PostStatusOf(string status) => status switch
    {
        PostStatus.Draft => V1.PostStatus.Draft,
        PostStatus.NeedsApproval => V1.PostStatus.NeedsApproval,
        PostStatus.Declined => V1.PostStatus.Declined,
        PostStatus.Scheduled => V1.PostStatus.Scheduled,
        PostStatus.Publishing => V1.PostStatus.Publishing,
        PostStatus.Published => V1.PostStatus.Published,
        PostStatus.PartiallyPublished => V1.PostStatus.PartiallyPublished,
        PostStatus.Failed => V1.PostStatus.Failed,
        PostStatus.Cancelled => V1.PostStatus.Cancelled,
        _ => V1.PostStatus.Unspecified,
    };

    /// <summary>The stored name of a status a caller filters by; null for UNSPECIFIED or a value this server does not know.</summary>
    public static string? PostStatusName(V1.PostStatus status) => status switch
    {
        V1.PostStatus.Draft => PostStatus.Draft,
        V1.PostStatus.NeedsApproval => PostStatus.NeedsApproval,
        V1.PostStatus.Declined => PostStatus.Declined,
        V1.PostStatus.Scheduled => PostStatus.Scheduled,
        V1.PostStatus.Publishing => PostStatus.Publishing,
        V1.PostStatus.Published => PostStatus.Published,
        V1.PostStatus.PartiallyPublished => PostStatus.PartiallyPublished,
        V1.PostStatus.Failed => PostStatus.Failed,
        V1.PostStatus.Cancelled => PostStatus.Cancelled,
        _ => null,
    };

    public static V1.TargetStatus TargetStatusOf(string status) => status switch
    {
        TargetStatus.Draft => V1.TargetStatus.Draft,
        TargetStatus.Scheduled => V1.TargetStatus.Scheduled,
        TargetStatus.Publishing => V1.TargetStatus.Publishing,
        TargetStatus.Published => V1.TargetStatus.Published,
        TargetStatus.Failed => V1.TargetStatus.Failed,
        TargetStatus.Skipped => V1.TargetStatus.Skipped,
        TargetStatus.Cancelled => V1.TargetStatus.Cancelled,
        TargetStatus.Unpublished => V1.TargetStatus.Unpublished,
        _ => V1.TargetStatus.Unspecified,
    };

    /// <summary>A batch call's ids as the core's bulk request takes them; none: select by filter.</summary>
    public static List<string?>? Ids(IEnumerable<string> ids)
    {
        var list = ids.Select(id => (string?)id).ToList();
        return list.Count == 0 ? null : list;
    }

    /// <summary>A batch call's filter in the REST request's words (each field validated by the core, as for REST).</summary>
    public static BulkFilter? Filter(V1.PostFilter? filter)
    {
        if (filter is null)
        {
            return null;
        }

        var statuses = filter.Statuses.Select((s, i) => PostStatusName(s)
            ?? throw ApiException.Validation($"filter.statuses[{i}]", $"filter.statuses[{i}] must be a post status other than POST_STATUS_UNSPECIFIED.")).ToList();
        return new BulkFilter(
            statuses.Count == 0 ? null : string.Join(',', statuses),
            NullIfEmpty(filter.SocialAccountId),
            NullIfEmpty(filter.Platform),
            Rfc3339(filter.ScheduledFrom, "filter.scheduledFrom"),
            Rfc3339(filter.ScheduledTo, "filter.scheduledTo"));
    }

    public static V1.BatchPostsResponse Batch(BulkResult result)
    {
        var message = new V1.BatchPostsResponse { Total = result.Summary.Total, Succeeded = result.Summary.Succeeded, Failed = result.Summary.Failed };
        message.Results.AddRange(result.Data.Select(r => new V1.BatchPostResult
        {
            PostId = r.Id,
            Ok = r.Ok,
            Status = r.Status is null or PostBulk.Deleted ? V1.PostStatus.Unspecified : PostStatusOf(r.Status),
            Error = r.Error is null ? null : new V1.BatchPostError { Code = r.Error.Code, Message = r.Error.Message },
        }));
        return message;
    }

    /// <summary>A bulk request's field (<c>ids[2]</c>, <c>filter.scheduledFrom</c>) as the batch message's (<c>post_ids[2]</c>, <c>filter.scheduled_from</c>).</summary>
    public static string BatchFieldPath(string path)
    {
        if (path == "ids" || path.StartsWith("ids[", StringComparison.Ordinal))
        {
            return "post_" + path;
        }

        if (path == "filter.status")
        {
            return "filter.statuses";
        }

        var snake = new System.Text.StringBuilder();
        foreach (char c in path)
        {
            snake.Append(char.IsUpper(c) ? $"_{char.ToLowerInvariant(c)}" : c.ToString());
        }

        return snake.ToString();
    }

    public static Timestamp? Time(DateTimeOffset? instant) => instant is { } value ? Timestamp.FromDateTimeOffset(value) : null;

    /// <summary>
    /// A request's instant as the core's rules read it (RFC 3339, UTC), so they judge it as they judge REST's; null when
    /// unset. A Timestamp outside 0001–9999 is a 422 on <paramref name="field"/>.
    /// </summary>
    public static string? Rfc3339(Timestamp? instant, string field)
    {
        if (instant is null)
        {
            return null;
        }

        if (instant.Seconds is < MinSeconds or > MaxSeconds || instant.Nanos is < 0 or > 999_999_999)
        {
            throw ApiException.Validation(field, $"{field} is not a valid timestamp.");
        }

        return instant.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
    }

    public static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    // Timestamp's own range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z).
    private const long MinSeconds = -62_135_596_800;
    private const long MaxSeconds = 253_402_300_799;
}
