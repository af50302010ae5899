using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>The filters and page of <c>GET /posts</c> (docs/api.md#routes), validated: a bad value is a 422 on its parameter.</summary>
public sealed record PostQuery(
    [FromQuery(Name = "status")] string? Status,
    [FromQuery(Name = "platform")] string? Platform,
    [FromQuery(Name = "socialAccountId")] string? SocialAccountId,
    [FromQuery(Name = "scheduledFrom")] string? ScheduledFrom,
    [FromQuery(Name = "scheduledTo")] string? ScheduledTo,
    [FromQuery(Name = "limit")] string? Limit,
    [FromQuery(Name = "cursor")] string? Cursor)
{
    private static readonly HashSet<string> Statuses =
    [
        PostStatus.Draft, PostStatus.NeedsApproval, PostStatus.Declined, PostStatus.Scheduled, PostStatus.Publishing, PostStatus.Published,
        PostStatus.PartiallyPublished, PostStatus.Failed, PostStatus.Cancelled,
    ];

    public PostStore.ListFilter ToFilter(string workspaceId)
    {
        List<string>? statuses = null;
        if (!string.IsNullOrEmpty(Status))
        {
            statuses = Status.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList();
            if (statuses.Count == 0 || statuses.Any(s => !Statuses.Contains(s)))
            {
                throw ApiException.Validation("status", $"status must be one or more (comma-separated) of: {string.Join(", ", Statuses)}.");
            }
        }

        int limit = 50;
        if (Limit is not null && (!int.TryParse(Limit, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 100))
        {
            throw ApiException.Validation("limit", "limit must be an integer from 1 to 100.");
        }

        return new PostStore.ListFilter(workspaceId, statuses, Empty(Platform), Empty(SocialAccountId),
            Instant(ScheduledFrom, "scheduledFrom"), Instant(ScheduledTo, "scheduledTo"), AfterId(Cursor), limit);
    }

    /// <summary>The cursor is opaque to clients: the last id of the page, encoded.</summary>
    public static string CursorAfter(string lastId) => WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes($"v1:{lastId}"));

    private static string? AfterId(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            string decoded = Encoding.UTF8.GetString(WebEncoders.Base64UrlDecode(cursor));
            if (decoded.StartsWith("v1:post_", StringComparison.Ordinal))
            {
                return decoded[3..];
            }
        }
        catch (FormatException)
        {
        }

        throw ApiException.Validation("cursor", "cursor is not one this API returned.");
    }

    /// <summary>An optional RFC 3339 query parameter with its offset, in UTC; a 422 naming <paramref name="path"/> otherwise.</summary>
    internal static DateTimeOffset? Instant(string? value, string path)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var instant) || !HasOffset(value))
        {
            throw ApiException.Validation(path, $"{path} must be an RFC 3339 timestamp with a UTC offset.");
        }

        return instant.ToUniversalTime();
    }

    private static bool HasOffset(string value) => value.EndsWith('Z') || value.EndsWith('z') || value.LastIndexOfAny(['+', '-']) > 10;

    private static string? Empty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
