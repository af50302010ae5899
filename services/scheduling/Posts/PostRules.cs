using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>The rules of docs/api.md#post that need no database: pure functions, unit-tested on their own.</summary>
public static partial class PostRules
{
    public const int MaxTargets = 20;
    public const int MaxCaptionLength = 5000;
    public const int MaxCancelReasonLength = 1024;
    public const int MaxMetadataPairs = 16;
    public const int MaxMedia = 4;
    public static readonly TimeSpan SkewTolerance = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan Horizon = TimeSpan.FromDays(365);

    // RFC 3339 with a mandatory offset: "2026-05-25T13:00:00" alone is ambiguous and refused.
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();

    /// <summary>Parses <c>scheduledFor</c> (docs/api.md#time-rules) into a UTC instant, or throws a 422 on <paramref name="path"/>.</summary>
    public static DateTimeOffset ParseScheduledFor(string? value, DateTimeOffset now, string path = "scheduledFor")
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw ApiException.Validation(path, "scheduledFor is required.");
        }

        if (!Rfc3339().IsMatch(value)
            || !DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
        {
            throw ApiException.Validation(path, "scheduledFor must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-05-25T13:00:00Z.");
        }

        return ValidateScheduledFor(parsed.ToUniversalTime(), now, path);
    }

    /// <summary>An instant to schedule at (docs/api.md#time-rules): not in the past beyond the skew tolerance, within the horizon.</summary>
    public static DateTimeOffset ValidateScheduledFor(DateTimeOffset utc, DateTimeOffset now, string path = "scheduledFor")
    {
        if (utc < now - SkewTolerance)
        {
            throw ApiException.Validation(path, "scheduledFor must be in the future.");
        }

        if (utc > now + Horizon)
        {
            throw ApiException.Validation(path, $"scheduledFor must be within {Horizon.TotalDays:0} days.");
        }

        return utc;
    }

    public static void ValidateCaption(string? caption)
    {
        if (string.IsNullOrWhiteSpace(caption))
        {
            throw ApiException.Validation("caption", "caption is required.");
        }

        if (caption.Length > MaxCaptionLength)
        {
            throw ApiException.Validation("caption", $"caption must be at most {MaxCaptionLength} characters.");
        }
    }

    /// <summary>
    /// The caption a target will publish must fit its platform, counted as the platform counts (Unicode code points,
    /// graphemes for Bluesky, weighted characters for X), and within its UTF-8 byte limit where it has one.
    /// </summary>
    public static void ValidateCaptionFor(string platform, string caption, string path)
    {
        if (!Platforms.Known.TryGetValue(platform, out var capabilities))
        {
            int runes = caption.EnumerateRunes().Count();
            if (runes > MaxCaptionLength)
            {
                throw ApiException.Validation(path, $"{platform} accepts at most {MaxCaptionLength} characters; this caption has {runes}.");
            }

            return;
        }

        int length = capabilities.CaptionLength(caption);
        if (length > capabilities.MaxCaptionLength)
        {
            string unit = capabilities.CaptionUnit switch
            {
                CaptionUnit.Graphemes => "characters (graphemes)",
                CaptionUnit.XWeighted => "weighted characters (a link counts 23, CJK and emoji 2)",
                _ => "characters",
            };
            throw ApiException.Validation(path, $"{platform} accepts at most {capabilities.MaxCaptionLength} {unit}; this caption has {length}.");
        }

        // Emoji built of many code points can fill the byte limit before the character limit.
        if (capabilities.MaxCaptionBytes is { } maxBytes && Encoding.UTF8.GetByteCount(caption) is var bytes && bytes > maxBytes)
        {
            throw ApiException.Validation(path, $"{platform} accepts at most {maxBytes} bytes of UTF-8 text; this caption has {bytes}.");
        }
    }

    public static void ValidateFirstCommentFor(string platform, string? firstComment, string path)
    {
        if (firstComment is null)
        {
            return;
        }

        if (Platforms.Known.TryGetValue(platform, out var capabilities) && !capabilities.SupportsFirstComment)
        {
            throw ApiException.Validation(path, $"{platform} does not support a first comment.");
        }

        ValidateCaptionFor(platform, firstComment, path);
    }

    /// <summary>
    /// A target's platform must take every media file of the post (its kind, their number, a video alone where the
    /// platform wants it so, each file's size where the platform limits it); <paramref name="contentTypes"/> are the
    /// post's media in order, <paramref name="sizes"/> their sizes in bytes in the same order.
    /// </summary>
    public static void ValidateMediaFor(string platform, IReadOnlyList<string> contentTypes, string path, IReadOnlyList<long>? sizes = null)
    {
        if (Platforms.Known.TryGetValue(platform, out var capabilities))
        {
            ValidateMediaFor(capabilities, contentTypes, path, sizes);
        }
    }

    public static void ValidateMediaFor(PlatformCapabilities capabilities, IReadOnlyList<string> contentTypes, string path, IReadOnlyList<long>? sizes = null)
    {
        string platform = capabilities.Platform;
        if (contentTypes.Count > capabilities.MaxMedia)
        {
            throw ApiException.Validation(path, $"{platform} takes at most {capabilities.MaxMedia} media per post; this post has {contentTypes.Count}.");
        }

        for (int i = 0; i < contentTypes.Count; i++)
        {
            string? kind = MediaKind.Of(contentTypes[i]);
            if (kind is null || !capabilities.MediaKinds.Contains(kind))
            {
                throw ApiException.Validation(path,
                    $"{platform} does not take mediaIds[{i}] ({contentTypes[i]}); it takes {string.Join(", ", capabilities.MediaKinds)} media.");
            }

            if (capabilities.VideoOrAudioAlone && kind is (MediaKind.Video or MediaKind.Audio) && contentTypes.Count > 1)
            {
                throw ApiException.Validation(path, $"{platform} takes a {kind} file (mediaIds[{i}]) only as a post's one media file.");
            }

            if (capabilities.MaxBytesOf(kind) is { } maxBytes && sizes is not null && i < sizes.Count && sizes[i] > maxBytes)
            {
                throw ApiException.Validation(path,
                    $"{platform} takes {kind} files of at most {maxBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes; mediaIds[{i}] has {sizes[i].ToString("N0", CultureInfo.InvariantCulture)}.");
            }
        }
    }

    public static void ValidateTargetAccounts(IReadOnlyList<string?>? accountIds)
    {
        if (accountIds is null || accountIds.Count == 0)
        {
            throw ApiException.Validation("targets", "At least one target is required.");
        }

        if (accountIds.Count > MaxTargets)
        {
            throw ApiException.Validation("targets", $"A post has at most {MaxTargets} targets.");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < accountIds.Count; i++)
        {
            string? id = accountIds[i];
            if (string.IsNullOrWhiteSpace(id))
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "socialAccountId is required.");
            }

            if (!seen.Add(id))
            {
                throw ApiException.Validation($"targets[{i}].socialAccountId", "Each target must be a distinct social account.");
            }
        }
    }

    /// <summary><c>timezone</c> is cosmetic but must name an IANA zone.</summary>
    public static void ValidateTimezone(string? timezone)
    {
        if (timezone is not null
            && (!TimeZoneInfo.TryFindSystemTimeZoneById(timezone, out var zone) || !zone.HasIanaId))
        {
            throw ApiException.Validation("timezone", "timezone must be an IANA time zone, e.g. America/New_York.");
        }
    }

    public static void ValidateMetadata(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        if (metadata.Count > MaxMetadataPairs)
        {
            throw ApiException.Validation("metadata", $"metadata holds at most {MaxMetadataPairs} pairs.");
        }

        foreach (var (key, value) in metadata)
        {
            if (key.Length is 0 or > 40 || value is null || value.Length > 500)
            {
                throw ApiException.Validation($"metadata.{key}", "metadata keys are 1–40 characters, values strings of at most 500.");
            }
        }
    }

    public static void ValidateCancelReason(string? reason)
    {
        if (reason is { Length: > MaxCancelReasonLength })
        {
            throw ApiException.Validation("reason", $"reason must be at most {MaxCancelReasonLength} characters.");
        }
    }

    /// <summary>A decline says why (the author reads it in the post's audit log and the <c>post.declined</c> event).</summary>
    public static void ValidateDeclineReason(string? reason)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            throw ApiException.Validation("reason", "reason is required: say why, so the author can fix the post.");
        }

        if (reason.Length > MaxCancelReasonLength)
        {
            throw ApiException.Validation("reason", $"reason must be at most {MaxCancelReasonLength} characters.");
        }
    }

    /// <summary>
    /// The post's status once every target is terminal (docs/api.md#resources), or null while some are not:
    /// cancelled if a post-level cancel took effect or every target was cancelled; else, ignoring targets
    /// cancelled on their own, published / partially_published / failed.
    /// </summary>
    public static string? AggregateStatus(IReadOnlyCollection<string> targetStatuses, bool postCancelled)
    {
        if (targetStatuses.Count == 0 || !targetStatuses.All(TargetStatus.IsTerminal))
        {
            return null;
        }

        var rest = targetStatuses.Where(s => s != TargetStatus.Cancelled).ToList();
        if (postCancelled || rest.Count == 0)
        {
            return PostStatus.Cancelled;
        }

        // A copy removed since (unpublished) was published all the same.
        int published = rest.Count(s => s is TargetStatus.Published or TargetStatus.Unpublished);
        return published == rest.Count ? PostStatus.Published
            : published > 0 ? PostStatus.PartiallyPublished
            : PostStatus.Failed;
    }

    /// <summary>Whether the publisher can delete a published copy on <paramref name="platform"/> (unpublish).</summary>
    public static bool CanUnpublish(string platform)
        => Contracts.Platforms.Platforms.Known.TryGetValue(platform, out var capabilities) && capabilities.Unpublishes;

    /// <summary>Exponential backoff with full jitter for a retryable publish failure; null once attempts are spent.</summary>
    public static TimeSpan? RetryDelay(int attemptsMade, int maxAttempts, TimeSpan baseDelay, TimeSpan cap, double jitter01)
    {
        if (attemptsMade >= maxAttempts)
        {
            return null;
        }

        double ceiling = Math.Min(cap.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, attemptsMade - 1));
        return TimeSpan.FromMilliseconds(ceiling / 2 + ceiling / 2 * jitter01);
    }
}
