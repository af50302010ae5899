using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Connectors;

/// <summary>What one target puts on its platform.</summary>
/// <param name="IdempotencyKey">Stable across every attempt of the target (SPEC §5).</param>
/// <param name="CredentialsJson">The account's decrypted credentials as the scheduling service hands them over; <c>{}</c> when none.</param>
/// <param name="FirstComment">Posted after the post itself, on Mastodon-like platforms as a reply.</param>
public sealed record Upload(
    string TargetId,
    string AccountHandle,
    string Text,
    string IdempotencyKey,
    string CredentialsJson,
    string? FirstComment = null,
    IReadOnlyList<UploadMedia>? Media = null)
{
    public IReadOnlyList<UploadMedia> Media { get; init; } = Media ?? [];

    /// <summary>The upload of a claimed target. A claim carries no media yet; until it does, targets go out without.</summary>
    public static Upload From(ClaimedTarget target) => new(
        target.TargetId,
        target.AccountHandle,
        target.Text,
        target.IdempotencyKey,
        target.CredentialsJson is { Length: > 0 } credentials ? credentials : "{}",
        target.FirstComment is { Length: > 0 } comment ? comment : null);
}

/// <summary>One media file of an upload, opened only when the connector sends it.</summary>
/// <param name="Open">Opens the file's content; called once per attempt, the stream is disposed by the connector.</param>
/// <param name="Description">Alt text.</param>
public sealed record UploadMedia(string FileName, string ContentType, Func<CancellationToken, Task<Stream>> Open, string? Description = null);
