using System.Globalization;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Json;

namespace ScheduledPosts.Scheduling.Dialects.PostPost;

public sealed record PostPostDeleted(bool Success);

/// <summary>PostPost's error body: one message. Its 404 on a post group says "Post group not found".</summary>
public sealed record PostPostError(string Error)
{
    public static IResult Result(ApiException error) => TypedResults.Json(
        new PostPostError(error.Status == StatusCodes.Status404NotFound ? "Post group not found" : error.Message),
        JsonDefaults.Options, statusCode: error.Status == StatusCodes.Status422UnprocessableEntity ? StatusCodes.Status400BadRequest : error.Status);

    /// <summary>The database could not be reached and nothing changed: PostPost's 500, which its clients retry.</summary>
    public static IResult Outage(string message) => TypedResults.Json(
        new PostPostError(message), JsonDefaults.Options, statusCode: StatusCodes.Status500InternalServerError);
}

/// <summary>A post group: our post, with one platform post per target.</summary>
public sealed record PostPostGroup(string PostGroupId, string Status, string? ScheduledTime, string CreatedAt, IReadOnlyList<PostPostPlatformPost> Posts)
{
    public static PostPostGroup From(PostView post) => new(
        post.Id, PostPostWords.Status(post.Status), Time(post.ScheduledFor), Time(post.CreatedAt)!,
        [.. post.Targets.Select(t => new PostPostPlatformPost(
            t.Id, PostPostWords.Platform(t.Platform), t.CaptionOverride ?? post.Caption, PostPostWords.TargetStatus(t.Status),
            Time(post.ScheduledFor), Time(t.PublishedAt), t.ExternalUrl, t.ErrorMessage))]);

    private static string? Time(DateTimeOffset? value) => value is { } v ? JsonDefaults.Format(v) : null;
}

public sealed record PostPostPlatformPost(
    string Id, string Platform, string Content, string Status, string? ScheduledTime, string? PublishedAt, string? PostUrl, string? Error);

public sealed record PostPostPage(IReadOnlyList<PostPostGroup> Posts, PostPostPagination Pagination);

public sealed record PostPostPagination(int Page, int Limit, bool HasNextPage);

/// <summary>Our statuses and platforms in PostPost's words, and back for its filters.</summary>
public static class PostPostWords
{
    /// <summary>
    /// A cancelled post, or one awaiting approval or declined, is, like a PostPost draft, not going out (and can be
    /// deleted); a partly published one is live.
    /// </summary>
    public static string Status(string status) => status switch
    {
        PostStatus.Draft or PostStatus.Cancelled or PostStatus.NeedsApproval or PostStatus.Declined => "draft",
        PostStatus.Scheduled => "scheduled",
        PostStatus.Publishing => "processing",
        PostStatus.Published or PostStatus.PartiallyPublished => "published",
        _ => "failed",
    };

    public static string TargetStatus(string status) => status switch
    {
        Posts.TargetStatus.Draft or Posts.TargetStatus.Cancelled => "draft",
        Posts.TargetStatus.Scheduled => "scheduled",
        Posts.TargetStatus.Publishing => "processing",
        // A copy removed since was published all the same (as our post counts it): not to be retried, nor deleted here.
        Posts.TargetStatus.Published or Posts.TargetStatus.Unpublished => "published",
        _ => "failed",
    };

    /// <summary>Our statuses behind one PostPost status filter; null for a word PostPost does not use.</summary>
    public static string? Statuses(string status) => status switch
    {
        "draft" => $"{PostStatus.Draft},{PostStatus.Cancelled},{PostStatus.NeedsApproval},{PostStatus.Declined}",
        "scheduled" => PostStatus.Scheduled,
        "pending" or "processing" => PostStatus.Publishing,
        "published" => $"{PostStatus.Published},{PostStatus.PartiallyPublished}",
        "failed" => PostStatus.Failed,
        _ => null,
    };

    public static string Platform(string platform) => platform switch
    {
        "x" => "twitter",
        "facebook_page" => "facebook",
        "linkedin_person" or "linkedin_company" => "linkedin",
        "tiktok_business" or "tiktok_personal" => "tiktok",
        _ => platform,
    };

    /// <summary>The platform a PostPost filter names, as ours (a LinkedIn filter finds personal profiles).</summary>
    public static string OurPlatform(string platform) => platform switch
    {
        "twitter" => "x",
        "facebook" => "facebook_page",
        "linkedin" => "linkedin_person",
        "tiktok" => "tiktok_business",
        _ => platform,
    };
}

/// <summary><c>list-posts</c>: PostPost pages by number; our list by cursor, so page n follows the cursor n − 1 times.</summary>
public static class PostPostList
{
    public const int MaxPage = 100;

    public static async Task<PostPostPage> ReadAsync(PostReader reader, string workspaceId, string? status, string? platform, string? page, string? limit)
    {
        string? statuses = null;
        if (!string.IsNullOrEmpty(status) && (statuses = PostPostWords.Statuses(status)) is null)
        {
            throw ApiException.Validation("status", "status must be one of draft, scheduled, pending, processing, published, failed.");
        }

        int pageNumber = 1;
        if (page is not null && (!int.TryParse(page, NumberStyles.None, CultureInfo.InvariantCulture, out pageNumber) || pageNumber is < 1 or > MaxPage))
        {
            throw ApiException.Validation("page", $"page must be an integer from 1 to {MaxPage}.");
        }

        var query = new PostQuery(statuses, string.IsNullOrEmpty(platform) ? null : PostPostWords.OurPlatform(platform), null, null, null, limit, null);
        var result = await reader.ListAsync(workspaceId, query);
        int reached = 1;
        for (; reached < pageNumber && result.NextCursor is { } cursor; reached++)
        {
            result = await reader.ListAsync(workspaceId, query with { Cursor = cursor });
        }

        int size = int.Parse(limit ?? "50", CultureInfo.InvariantCulture);
        return reached < pageNumber
            ? new PostPostPage([], new PostPostPagination(pageNumber, size, false))
            : new PostPostPage([.. result.Data.Select(PostPostGroup.From)], new PostPostPagination(pageNumber, size, result.HasMore));
    }
}
