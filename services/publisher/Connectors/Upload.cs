using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Connectors;

/// <summary>What one target puts on its platform.</summary>
/// <param name="IdempotencyKey">Stable across every attempt of the target (docs/publishing.md).</param>
/// <param name="CredentialsJson">The account's decrypted credentials as the scheduling service hands them over; <c>{}</c> when none.</param>
/// <param name="FirstComment">Posted after the post itself, on Mastodon-like platforms as a reply.</param>
/// <param name="Attempt">1 for the target's first attempt; more when an earlier one failed or its outcome is unknown.</param>
/// <param name="FirstAttemptAt">When the target's first attempt began: no earlier attempt can have posted before.</param>
public sealed record Upload(
    string TargetId,
    string AccountHandle,
    string Text,
    string IdempotencyKey,
    string CredentialsJson,
    string? FirstComment = null,
    IReadOnlyList<UploadMedia>? Media = null,
    int Attempt = 1,
    DateTimeOffset? FirstAttemptAt = null)
{
    public IReadOnlyList<UploadMedia> Media { get; init; } = Media ?? [];

    /// <summary>The upload of a claimed target; <paramref name="openMedia"/> opens one of its media files when the connector sends it.</summary>
    public static Upload From(ClaimedTarget target, Func<ClaimedMedia, CancellationToken, Task<Stream>> openMedia) => new(
        target.TargetId,
        target.AccountHandle,
        target.Text,
        target.IdempotencyKey,
        target.CredentialsJson is { Length: > 0 } credentials ? credentials : "{}",
        target.FirstComment is { Length: > 0 } comment ? comment : null,
        [.. target.Media.Select(m => new UploadMedia(
            m.Filename is { Length: > 0 } name ? name : m.MediaId,
            m.ContentType,
            ct => openMedia(m, ct),
            m.AltText is { Length: > 0 } alt ? alt : null,
            m.SizeBytes))],
        target.Attempt,
        target.FirstClaimedAt?.ToDateTimeOffset());
}

/// <summary>One media file of an upload, opened only when the connector sends it.</summary>
/// <param name="Open">
/// Opens the file's content; called once per attempt, the stream is disposed by the connector. It, and reading the
/// stream, throw <see cref="MediaUnavailableException"/> when the file cannot be had.
/// </param>
/// <param name="Description">Alt text.</param>
/// <param name="Length">The file's size in bytes, when known: sent as its Content-Length.</param>
public sealed record UploadMedia(string FileName, string ContentType, Func<CancellationToken, Task<Stream>> Open, string? Description = null, long? Length = null);

/// <summary>A media file of an upload could not be read from where it is kept; nothing was posted with it.</summary>
public sealed class MediaUnavailableException : IOException
{
    /// <summary>The media failure within <paramref name="e"/> (an HTTP client wraps what the content stream threw), or null.</summary>
    public static MediaUnavailableException? In(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is MediaUnavailableException media)
            {
                return media;
            }
        }

        return null;
    }

    public MediaUnavailableException()
    {
    }

    public MediaUnavailableException(string message) : base(message)
    {
    }

    public MediaUnavailableException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
