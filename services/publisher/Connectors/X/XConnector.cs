using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.X;

/// <summary>
/// Publishes to X through API v2 as the account whose OAuth 2.0 user access token the claim carries:
/// <c>{"accessToken": "…", "userId": "…", "username": "…"}</c> (the keys <c>XOAuth.AccountsAsync</c> stores, plus the
/// token). Each image goes up with <c>POST /2/media/upload</c> (its alt text with <c>POST /2/media/metadata</c>), a video
/// with the chunked upload (INIT, APPEND, FINALIZE, then STATUS until X has processed it), then <c>POST /2/tweets</c>
/// creates the post. X does not dedupe by key: before an attempt after the first, the publisher
/// asks <see cref="FindEarlierAsync"/>, which reads the account's posts since the first attempt (README.md).
/// Errors are problem details (<c>title</c>, <c>detail</c>) or <c>errors[].message</c>; a failure shows the status and
/// the sanitised <c>detail</c> (<see cref="PlatformErrorText"/>), never the body. Unpublish deletes the post with
/// <c>DELETE /2/tweets/:id</c> (<see cref="UnpublishAsync"/>).
/// </summary>
public sealed partial class XConnector(HttpClient http, IOptions<XOptions> options, TimeProvider clock, ILogger<XConnector> logger)
    : IFindingConnector, IUnpublishingConnector
{
    /// <summary>X's media category for an image in a post (https://docs.x.com/x-api/media/quickstart/best-practices).</summary>
    public const string ImageCategory = "tweet_image";

    // The simple upload takes these image types; an animated GIF needs the chunked upload (tweet_gif), not done here.
    private static readonly HashSet<string> ImageTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/bmp", "image/tiff",
    };

    // How far before the first attempt a lookup starts: our clock and X's may disagree by that much.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    public PlatformCapabilities Capabilities => Platforms.Known[Platforms.X];

    private sealed record Credentials(string? AccessToken, string? UserId, string? Username);

    private sealed record Account(string AccessToken, string? UserId, string? Username);

    public async Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
    {
        var account = Read(upload.CredentialsJson, out string? problem);
        if (account is null)
        {
            return new Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        bool video = upload.Media.Any(m => MediaKind.Of(m.ContentType) == MediaKind.Video);
        if (video ? upload.Media.Count > 1 : upload.Media.Count > Capabilities.MaxMedia)
        {
            return new Failed(ConnectorErrors.Rejected,
                $"X takes at most {Capabilities.MaxMedia} images or 1 video alone in a post; this one has {upload.Media.Count} media files. Nothing was posted.", Retryable: false);
        }

        foreach (var media in upload.Media)
        {
            bool isVideo = MediaKind.Of(media.ContentType) == MediaKind.Video;
            if (isVideo ? !string.Equals(media.ContentType, VideoType, StringComparison.OrdinalIgnoreCase) : !ImageTypes.Contains(media.ContentType))
            {
                return new Failed(ConnectorErrors.Rejected,
                    $"{media.FileName} is {media.ContentType}; the X connector sends still images (JPEG, PNG, WebP, BMP, TIFF) and MP4 video, not animated GIFs. Nothing was posted.",
                    Retryable: false);
            }

            long? max = Capabilities.MaxBytesOf(isVideo ? MediaKind.Video : MediaKind.Image);
            if (media.Length is { } length && length > max)
            {
                return new Failed(ConnectorErrors.Rejected,
                    $"{media.FileName} has {length} bytes; X takes {(isVideo ? "videos" : "images")} of at most {max} bytes. Nothing was posted.", Retryable: false);
            }
        }

        var mediaIds = new JsonArray();
        foreach (var media in upload.Media)
        {
            var (id, failure) = video
                ? await UploadVideoAsync(account, media, cancellationToken)
                : await UploadImageAsync(account, media, cancellationToken);
            if (id is null)
            {
                return failure!;
            }

            mediaIds.Add(id);
        }

        var post = new JsonObject { ["text"] = upload.Text };
        if (mediaIds.Count > 0)
        {
            post["media"] = new JsonObject { ["media_ids"] = mediaIds };
        }

        var (created, createFailure) = await CallAsync(account, () => Json(HttpMethod.Post, "2/tweets", account, post), posting: true, "the post", cancellationToken);
        if (created?["data"]?["id"]?.GetValue<string>() is { Length: > 0 } postId)
        {
            return Published(account, postId);
        }

        return createFailure ?? Unknown(ConnectorErrors.PlatformError, "X answered the post's creation without its id.");
    }

    public async Task<ConnectorResult?> FindEarlierAsync(Upload upload, CancellationToken cancellationToken)
    {
        var account = Read(upload.CredentialsJson, out string? problem);
        if (account is null || account.UserId is not { Length: > 0 } userId)
        {
            return new Failed(ConnectorErrors.InvalidCredentials, problem ?? "The X account's credentials have no userId, so its posts cannot be looked up.", Retryable: false);
        }

        var since = (upload.FirstAttemptAt ?? clock.GetUtcNow()) - ClockSkew;
        string wanted = XPostText.Comparable(upload.Text);
        string? page = null;
        for (int pages = 0; pages < options.Value.MaxLookupPages; pages++)
        {
            // GET /2/users/{id}/tweets: newest first, 5–100 a page; start_time in ISO 8601; the 3,200 most recent posts
            // (https://docs.x.com/x-api/posts/timelines/migrate/overview).
            string query = $"2/users/{Uri.EscapeDataString(userId)}/tweets?max_results=100&tweet.fields=created_at,attachments"
                           + $"&start_time={Uri.EscapeDataString(since.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))}"
                           + (page is null ? "" : $"&pagination_token={Uri.EscapeDataString(page)}");
            var (timeline, failure) = await CallAsync(account, () => Task.FromResult(Bearer(new HttpRequestMessage(HttpMethod.Get, query), account)), posting: false,
                "the account's recent posts", cancellationToken);
            if (timeline is null)
            {
                return failure ?? new Failed(ConnectorErrors.PlatformError, "X answered the lookup of the account's posts unreadably.", Retryable: true);
            }

            foreach (var post in timeline["data"]?.AsArray() ?? [])
            {
                if (post?["id"]?.GetValue<string>() is { Length: > 0 } id
                    && post["text"]?.GetValue<string>() is { } text
                    && XPostText.Comparable(text) == wanted
                    && (post["attachments"]?["media_keys"]?.AsArray().Count ?? 0) == upload.Media.Count)
                {
                    Log.Found(logger, upload.TargetId, id);
                    return Published(account, id);
                }
            }

            page = timeline["meta"]?["next_token"]?.GetValue<string>();
            if (page is null)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// <c>DELETE /2/tweets/:id</c> as the author (https://docs.x.com/x-api/posts/manage-tweets/quickstart,
    /// https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/delete-tweets-id): answers
    /// <c>{"data": {"deleted": true}}</c>; a post X no longer has (404) was removed already.
    /// </summary>
    public async Task<Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
    {
        var account = Read(removal.CredentialsJson, out string? problem);
        if (account is null)
        {
            return new Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        var (answer, failure) = await CallAsync(account,
            () => Task.FromResult(Bearer(new HttpRequestMessage(HttpMethod.Delete, $"2/tweets/{Uri.EscapeDataString(removal.ExternalPostId)}"), account)),
            posting: false, $"the deletion of post {removal.ExternalPostId}", cancellationToken, goneIsDone: true);
        if (answer is null)
        {
            return failure;
        }

        return ReferenceEquals(answer, Gone) || answer["data"]?["deleted"]?.GetValue<bool>() == true
            ? null
            : new Failed(ConnectorErrors.PlatformError, $"X answered the deletion of post {removal.ExternalPostId} without deleting it.", Retryable: true);
    }

    // What CallAsync answers for a 404 when the thing asked for is gone already, as a deletion wants it.
    private static readonly JsonObject Gone = [];

    private static Published Published(Account account, string id)
        => new(id, account.Username is { Length: > 0 } name
            ? $"https://x.com/{Uri.EscapeDataString(name)}/status/{id}"
            : $"https://x.com/i/web/status/{id}");

    private static Account? Read(string json, out string? problem)
    {
        Credentials? credentials;
        try
        {
            credentials = JsonSerializer.Deserialize<Credentials>(json, JsonSerializerOptions.Web);
        }
        catch (JsonException)
        {
            credentials = null;
        }

        problem = credentials switch
        {
            null => "The X account's credentials are not a JSON object.",
            { AccessToken: null or "" } => "The X account's credentials have no accessToken; connect the account again.",
            _ => null,
        };
        return problem is null ? new Account(credentials!.AccessToken!, credentials.UserId, credentials.Username) : null;
    }

    /// <summary>POST /2/media/upload (multipart: <c>media</c>, <c>media_category</c>, <c>media_type</c>), then its alt text.</summary>
    private async Task<(string? Id, Failed? Failure)> UploadImageAsync(Account account, UploadMedia media, CancellationToken cancellationToken)
    {
        var (uploaded, failure) = await CallAsync(account, async () =>
        {
            var file = await media.Open(cancellationToken);
            var content = new StreamContent(file);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(media.ContentType);
            var form = new MultipartFormDataContent
            {
                { content, "media", media.FileName },
                { new StringContent(ImageCategory), "media_category" },
                { new StringContent(media.ContentType), "media_type" },
            };
            return Bearer(new HttpRequestMessage(HttpMethod.Post, "2/media/upload") { Content = form }, account);
        }, posting: false, $"the image {media.FileName}", cancellationToken);
        if (uploaded?["data"]?["id"]?.GetValue<string>() is not { Length: > 0 } id)
        {
            return (null, failure ?? new Failed(ConnectorErrors.PlatformError, $"X answered the upload of {media.FileName} without a media id.", Retryable: true));
        }

        if (media.Description is { Length: > 0 } alt)
        {
            // POST /2/media/metadata (https://docs.x.com/x-api/media/create-media-metadata): alt text of at most 1000 characters.
            var metadata = new JsonObject { ["id"] = id, ["metadata"] = new JsonObject { ["alt_text"] = new JsonObject { ["text"] = alt } } };
            var (described, describeFailure) = await CallAsync(account, () => Json(HttpMethod.Post, "2/media/metadata", account, metadata), posting: false,
                $"the alt text of {media.FileName}", cancellationToken);
            if (described is null)
            {
                return (null, describeFailure);
            }
        }

        return (id, null);
    }

    private static Task<HttpRequestMessage> Json(HttpMethod method, string path, Account account, JsonObject body)
        => Task.FromResult(Bearer(new HttpRequestMessage(method, path) { Content = JsonContent.Create(body) }, account));

    private static HttpRequestMessage Bearer(HttpRequestMessage request, Account account)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", account.AccessToken);
        return request;
    }

    /// <summary>
    /// One call: its JSON answer, or how it failed. <paramref name="posting"/>: once sent, the request may have made a post;
    /// <paramref name="answerRequired"/>: false where X answers success with an empty body (APPEND), then neither comes back;
    /// <paramref name="goneIsDone"/>: a 404 answers <see cref="Gone"/> (a deletion of what X no longer has).
    /// </summary>
    private async Task<(JsonNode? Answer, Failed? Failure)> CallAsync(Account account, Func<Task<HttpRequestMessage>> build, bool posting, string what,
        CancellationToken cancellationToken, bool answerRequired = true, bool goneIsDone = false)
    {
        string code;
        string message;
        HttpRequestMessage? request = null;
        try
        {
            request = await build();
            using var response = await http.SendAsync(request, cancellationToken);
            if (goneIsDone && response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return (Gone, null);
            }

            if (!response.IsSuccessStatusCode)
            {
                return (null, await FailureAsync(response, what, cancellationToken));
            }

            if (!answerRequired)
            {
                return (null, null);
            }

            try
            {
                if (await response.Content.ReadFromJsonAsync<JsonNode>(cancellationToken) is JsonObject answer)
                {
                    return (answer, null);
                }
            }
            catch (JsonException)
            {
            }

            string unreadable = $"X answered {PlatformErrorText.Status((int)response.StatusCode)} to {what} unreadably.";
            return (null, posting ? Unknown(ConnectorErrors.PlatformError, unreadable) : new Failed(ConnectorErrors.PlatformError, unreadable, Retryable: true));
        }
        catch (Exception e) when (MediaUnavailableException.In(e) is { } media)
        {
            // Reading the file failed (before or while it was sent): nothing was posted.
            return (null, new Failed(ConnectorErrors.MediaUnavailable, media.Message, Retryable: true));
        }
        catch (HttpRequestException e) when (OutboundAddressRefusedException.In(e) is not null)
        {
            return (null, new Failed(ConnectorErrors.DestinationRefused,
                "The X API host resolves to a loopback, private, link-local or metadata address, which the Outbound policy refuses. Nothing was sent.", Retryable: false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            code = ConnectorErrors.Timeout;
            message = $"X did not answer {what} within {http.Timeout.TotalSeconds:0.#} s.";
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError)
        {
            // No connection was made: the request was never sent, so nothing can have been posted.
            return (null, new Failed(ConnectorErrors.NetworkError, $"X could not be reached for {what}: {PlatformErrorText.Sanitise(e.Message)}", Retryable: true));
        }
        catch (HttpRequestException e)
        {
            code = ConnectorErrors.NetworkError;
            message = $"X could not be reached for {what}: {PlatformErrorText.Sanitise(e.Message)}";
        }
        finally
        {
            request?.Dispose();
        }

        return (null, posting ? Unknown(code, message) : new Failed(code, message, Retryable: true));
    }

    private async Task<Failed> FailureAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        int status = (int)response.StatusCode;
        string? reason = await XProblem.ReadAsync(response, cancellationToken);
        string text = reason is null ? PlatformErrorText.Status(status) : $"{PlatformErrorText.Status(status)}: {reason}";
        return status switch
        {
            // Redirects are not followed (UseOutboundPolicy): the request did nothing.
            >= 300 and < 400 => new Failed(ConnectorErrors.PlatformError, $"X answered {what} with a redirect ({text}), which is not followed.", Retryable: true),
            401 => new Failed(ConnectorErrors.InvalidCredentials, $"X refused the account's access token for {what} ({text}).", Retryable: false),
            429 => new Failed(ConnectorErrors.RateLimited, $"X is rate limiting {what} ({text}).", Retryable: true, RetryAfter(response)),
            >= 500 => new Failed(ConnectorErrors.PlatformError, $"X failed {what} ({text}).", Retryable: true, RetryAfter(response)),
            // 400 invalid request, 403 (duplicate content, a missing scope, a suspended account): retrying the same cannot help.
            _ => new Failed(ConnectorErrors.Rejected, $"X refused {what} ({text}).", Retryable: false),
        };
    }

    // x-rate-limit-reset: the Unix time, in seconds, the window resets (https://docs.x.com/fundamentals/rate-limits);
    // Retry-After when a proxy in between sends one.
    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var now = clock.GetUtcNow();
        DateTimeOffset? until = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => now + delta,
            { Date: { } date } => date,
            _ => response.Headers.TryGetValues("x-rate-limit-reset", out var values)
                 && long.TryParse(values.First(), NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)
                 && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds()
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : null,
        };
        return until is { } at ? (at > now ? at - now : TimeSpan.Zero) : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Target {TargetId} was found already posted to X as {PostId}")]
        public static partial void Found(ILogger logger, string targetId, string postId);
    }
}
