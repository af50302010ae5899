using System.Buffers.Text;
using System.Text;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Webhooks.Deliveries;

public static class DeliveryStatus
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";

    public static readonly IReadOnlyList<string> All = [Pending, Delivered, Failed];
}

/// <summary>What follows an attempt: the delivery's new status, and when it is tried next.</summary>
public sealed record DeliveryDecision(string Status, DateTimeOffset? NextAttemptAt);

/// <summary>An endpoint's deliveries, newest first: an optional status, a page size, and where the previous page ended.</summary>
public sealed record DeliveryQuery(string? Status, int Limit, DeliveryCursor? After);

/// <summary>The position after a delivery in the newest-first order: its creation time, then its id.</summary>
public sealed record DeliveryCursor(DateTimeOffset CreatedAt, string Id);

/// <summary>The retry, health and listing rules of docs/api.md#delivery-and-retries, as pure functions.</summary>
public static class DeliveryRules
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 100;

    /// <param name="statusCode">The response status, or null when there was none (timeout, connection error).</param>
    /// <param name="attempt">The number of the attempt just made in this round (from 1; a redelivery starts a new round).</param>
    /// <param name="retrySchedule">The delay before each retry; after the last one the delivery has failed.</param>
    public static DeliveryDecision Decide(int? statusCode, int attempt, IReadOnlyList<TimeSpan> retrySchedule, DateTimeOffset now)
    {
        if (statusCode is >= 200 and < 300)
        {
            return new DeliveryDecision(DeliveryStatus.Delivered, null);
        }

        if (statusCode == 410)
        {
            return new DeliveryDecision(DeliveryStatus.Failed, null);
        }

        return attempt <= retrySchedule.Count
            ? new DeliveryDecision(DeliveryStatus.Pending, now + retrySchedule[attempt - 1])
            : new DeliveryDecision(DeliveryStatus.Failed, null);
    }

    /// <summary>
    /// Why the endpoint is to be disabled after an attempt, or null: it answered 410 Gone, or this attempt (made at
    /// <paramref name="attemptedAt"/>) failed and so has every one since the one made at <paramref name="failingSince"/>,
    /// at least <paramref name="disableAfter"/> earlier.
    /// </summary>
    public static string? DisableReason(int? statusCode, DateTimeOffset? failingSince, DateTimeOffset attemptedAt, TimeSpan disableAfter)
    {
        if (statusCode == 410)
        {
            return "The endpoint answered 410 Gone.";
        }

        bool failed = statusCode is not (>= 200 and < 300);
        return failed && failingSince is { } since && attemptedAt - since >= disableAfter
            ? $"Every attempt failed since {since:yyyy-MM-dd'T'HH:mm:ss'Z'} ({FormatSpan(disableAfter)} or more)."
            : null;
    }

    /// <summary>Parses the listing parameters as the REST query string gives them; a problem is a 422 on the parameter.</summary>
    public static DeliveryQuery ParseQuery(string? status, string? limit, string? cursor)
    {
        var issues = new List<ValidationIssue>();
        if (status is not null && !DeliveryStatus.All.Contains(status))
        {
            issues.Add(new ValidationIssue("status", $"status must be one of {string.Join(", ", DeliveryStatus.All)}."));
        }

        int pageSize = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out pageSize)
                                  || pageSize is < 1 or > MaxPageSize))
        {
            issues.Add(new ValidationIssue("limit", $"limit must be a whole number from 1 to {MaxPageSize}."));
        }

        DeliveryCursor? after = null;
        if (!string.IsNullOrEmpty(cursor) && (after = DecodeCursor(cursor)) is null)
        {
            issues.Add(new ValidationIssue("cursor", "cursor is not one this API returned."));
        }

        return issues.Count > 0 ? throw ApiException.Validation(issues) : new DeliveryQuery(status, pageSize, after);
    }

    /// <summary>The opaque cursor for the page after <paramref name="last"/>.</summary>
    public static string EncodeCursor(DeliveryCursor last)
        => Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{last.CreatedAt.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture)}|{last.Id}"));

    private static DeliveryCursor? DecodeCursor(string cursor)
    {
        try
        {
            string[] parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor)).Split('|');
            return parts.Length == 2 && parts[1].StartsWith("dlv_", StringComparison.Ordinal) && parts[1].Length < 64
                   && long.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long ticks)
                   && ticks <= DateTimeOffset.MaxValue.UtcTicks
                ? new DeliveryCursor(new DateTimeOffset(ticks, TimeSpan.Zero), parts[1])
                : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string FormatSpan(TimeSpan span)
        => span.TotalDays >= 1 && span.TotalDays % 1 == 0
            ? $"{span.TotalDays:0} day{(span.TotalDays == 1 ? "" : "s")}"
            : span.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
}
