using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.Facebook;

/// <summary>
/// Publishes to a Facebook Page through the Graph API as the Page, with the Page access token the account was connected
/// with: <c>{"accessToken": "…", "pageId": "…"}</c> (FacebookOAuth in the scheduling service stores them). Each image is
/// uploaded unpublished (<c>POST /{page-id}/photos</c>, <c>published=false</c>), then one feed post carries the message
/// and the photos (<c>attached_media</c>); a post without images names the text's first link as its <c>link</c>. A video
/// is its own post: <c>POST /{page-id}/videos</c> with the text as its description, then its status read until Facebook
/// has processed it. Graph does not dedupe a repeated create, so before a retry <see cref="FindEarlierAsync"/> reads the
/// Page's feed (or, for a video, its videos) since the first attempt for a post with the same message and photo count.
/// Unpublish deletes the post (or video) with <c>DELETE /{post-id}</c> (<see cref="UnpublishAsync"/>). README.md lists the sources.
/// </summary>
public sealed partial class FacebookConnector(HttpClient http, IOptions<FacebookOptions> options, TimeProvider clock, ILogger<FacebookConnector> logger)
    : IFindingConnector, IUnpublishingConnector
{
    private readonly FacebookOptions _options = options.Value;

    public PlatformCapabilities Capabilities => Platforms.Known[Platforms.FacebookPage];

    private sealed record Credentials(string? AccessToken, string? PageId);

    private sealed record Account(string PageId, string AccessToken);

    /// <summary>What one Graph call came to: its JSON answer, or how it failed (<c>Gone</c>: the object does not exist).</summary>
    private readonly record struct Answer(JsonObject? Value, Failed? Failure, bool Gone = false);

    /// <summary>
    /// <c>DELETE /{post-id}</c> with the Page's token (pages_manage_posts): Graph answers <c>{"success": true}</c>. A post
    /// Facebook no longer has is error #100/33 ("Object with ID … does not exist"), or a 404: removed already.
    /// </summary>
    public async Task<Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
    {
        if (Read(removal.CredentialsJson, out string? problem) is not { } account)
        {
            return new Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        var deleted = await SendAsync(() => Task.FromResult(new HttpRequestMessage(HttpMethod.Delete,
                Url($"{Uri.EscapeDataString(removal.ExternalPostId)}?access_token={Uri.EscapeDataString(account.AccessToken)}"))),
            posting: false, $"the deletion of post {removal.ExternalPostId}", cancellationToken);
        return deleted switch
        {
            { Gone: true } => null,
            { Value: { } answer } when answer["success"] is JsonValue success && success.TryGetValue(out bool ok) && ok => null,
            { Value: not null } => new Failed(ConnectorErrors.PlatformError, $"Facebook answered the deletion of post {removal.ExternalPostId} without success.", Retryable: true),
            _ => deleted.Failure,
        };
    }

    public async Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
    {
        if (Read(upload.CredentialsJson, out string? problem) is not { } account)
        {
            return new Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        if (upload.Media.Any(IsVideo))
        {
            return upload.Media is [var video] && string.Equals(video.ContentType, VideoType, StringComparison.OrdinalIgnoreCase)
                ? video.Length > Capabilities.MaxBytesOf(MediaKind.Video)
                    ? new Failed(ConnectorErrors.Rejected,
                        $"{video.FileName} has {video.Length} bytes; Facebook takes videos of at most {Capabilities.MaxBytesOf(MediaKind.Video)} bytes in one request. Nothing was posted.",
                        Retryable: false)
                    : await PublishVideoAsync(account, upload, video, cancellationToken)
                : new Failed(ConnectorErrors.Rejected, "The Facebook connector posts one MP4 video on its own, without other media. Nothing was posted.", Retryable: false);
        }

        if (upload.Media.FirstOrDefault(m => MediaKind.Of(m.ContentType) != MediaKind.Image) is { } notImage)
        {
            return new Failed(ConnectorErrors.Rejected, $"{notImage.FileName} is {notImage.ContentType}; the Facebook connector posts images and MP4 video. Nothing was posted.", Retryable: false);
        }

        var post = new List<KeyValuePair<string, string>> { new("message", upload.Text) };
        for (int i = 0; i < upload.Media.Count; i++)
        {
            var (photoId, failure) = await UploadPhotoAsync(account, upload.Media[i], cancellationToken);
            if (photoId is null)
            {
                return failure!;
            }

            post.Add(new($"attached_media[{i}]", new JsonObject { ["media_fbid"] = photoId }.ToJsonString()));
        }

        // A link post shows the link's preview; a photo post shows the photos, and its link stays in the message.
        if (upload.Media.Count == 0 && FirstLink(upload.Text) is { } link)
        {
            post.Add(new("link", link));
        }

        var created = await SendAsync(() => Form(HttpMethod.Post, $"{account.PageId}/feed", account, post), posting: true, "the post", cancellationToken);
        if (created.Value?["id"]?.GetValue<string>() is not { Length: > 0 } postId)
        {
            return created.Failure ?? Unknown(ConnectorErrors.PlatformError, "Facebook answered the post's create without a post id.");
        }

        return new Published(postId, await PermalinkAsync(account, postId, cancellationToken));
    }

    public async Task<ConnectorResult?> FindEarlierAsync(Upload upload, CancellationToken cancellationToken)
    {
        if (Read(upload.CredentialsJson, out string? problem) is not { } account)
        {
            return new Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        // Facebook's clock and ours may differ by a little: a minute earlier cannot reach a post made long before.
        var since = (upload.FirstAttemptAt ?? clock.GetUtcNow().AddDays(-1)).AddMinutes(-1);
        if (upload.Media.Any(IsVideo))
        {
            return await FindEarlierVideoAsync(account, upload, since, cancellationToken);
        }

        string? after = null;
        for (int page = 0; page < _options.LookupPages; page++)
        {
            string query = $"fields=id,message,created_time,permalink_url,attachments&limit=25&since={since.ToUnixTimeSeconds()}"
                           + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}");
            var feed = await SendAsync(() => Get($"{account.PageId}/feed?{query}", account), posting: false, "the Page's feed", cancellationToken);
            if (feed.Value is null)
            {
                return feed.Failure! with { Message = $"Looking for an earlier attempt's post failed: {feed.Failure!.Message}" };
            }

            foreach (var item in (feed.Value["data"] as JsonArray ?? []).OfType<JsonObject>())
            {
                if (SameText(item["message"] is JsonValue message && message.TryGetValue(out string? text) ? text : "", upload.Text)
                    && PhotoCount(item) == upload.Media.Count
                    && item["id"]?.GetValue<string>() is { Length: > 0 } id)
                {
                    Log.FoundEarlier(logger, upload.TargetId, id);
                    return new Published(id, item["permalink_url"]?.GetValue<string>() is { Length: > 0 } url ? url : Permalink(id));
                }
            }

            after = feed.Value["paging"]?["next"] is null ? null : feed.Value["paging"]?["cursors"]?["after"]?.GetValue<string>();
            if (after is null)
            {
                return null;
            }
        }

        return null;
    }

    // Line ends and surrounding white space are not the post's content, and a platform may normalise them.
    private static bool SameText(string posted, string text)
        => string.Equals(posted.ReplaceLineEndings("\n").Trim(), text.ReplaceLineEndings("\n").Trim(), StringComparison.Ordinal);

    // A feed item's photos: the subattachments of a multi-photo post, or its one photo attachment. A video post counts −1,
    // matching no upload the feed is searched for (a video is looked up among the Page's videos).
    private static int PhotoCount(JsonObject item)
    {
        if (item["attachments"]?["data"] is not JsonArray { Count: > 0 } attachments || attachments[0] is not JsonObject first)
        {
            return 0;
        }

        if (first["type"] is JsonValue type && type.TryGetValue(out string? kind) && kind.StartsWith("video", StringComparison.Ordinal))
        {
            return -1;
        }

        return first["subattachments"]?["data"] is JsonArray subattachments
            ? subattachments.Count(s => s?["type"]?.GetValue<string>() == "photo")
            : first["type"]?.GetValue<string>() == "photo" ? 1 : 0;
    }

    /// <summary>The file as a form's <c>source</c> part, its type and (when known) its length declared.</summary>
    private static async Task<StreamContent> SourceAsync(UploadMedia media, CancellationToken cancellationToken)
    {
        var source = new StreamContent(await media.Open(cancellationToken));
        source.Headers.ContentType = MediaTypeHeaderValue.Parse(media.ContentType);
        if (media.Length is { } length)
        {
            source.Headers.ContentLength = length;
        }

        return source;
    }

    /// <summary>POST /{page-id}/photos with published=false: the photo's id, to be attached to the post.</summary>
    private async Task<(string? PhotoId, Failed? Failure)> UploadPhotoAsync(Account account, UploadMedia media, CancellationToken cancellationToken)
    {
        var uploaded = await SendAsync(async () =>
        {
            var source = await SourceAsync(media, cancellationToken);
            var form = new MultipartFormDataContent
            {
                { new StringContent(account.AccessToken), "access_token" },
                { new StringContent("false"), "published" },
                { source, "source", media.FileName },
            };
            return new HttpRequestMessage(HttpMethod.Post, Url($"{account.PageId}/photos")) { Content = form };
        }, posting: false, $"the image {media.FileName}", cancellationToken);
        return uploaded.Value?["id"]?.GetValue<string>() is { Length: > 0 } id
            ? (id, null)
            : (null, uploaded.Failure ?? new Failed(ConnectorErrors.PlatformError, $"Facebook answered the upload of {media.FileName} without a photo id.", Retryable: true));
    }

    /// <summary>The post's <c>permalink_url</c>; when Graph does not give it, the facebook.com address of its id.</summary>
    private async Task<string> PermalinkAsync(Account account, string postId, CancellationToken cancellationToken)
    {
        var answer = await SendAsync(() => Get($"{Uri.EscapeDataString(postId)}?fields=permalink_url", account), posting: false, "the post's permalink", cancellationToken);
        return answer.Value?["permalink_url"]?.GetValue<string>() is { Length: > 0 } url ? url : Permalink(postId);
    }

    private static string Permalink(string postId) => $"https://www.facebook.com/{Uri.EscapeDataString(postId)}";

    private Uri Url(string path) => new(new Uri(_options.BaseUrl.ToString().TrimEnd('/') + "/"), $"{_options.GraphVersion}/{path}");

    private Task<HttpRequestMessage> Get(string pathAndQuery, Account account)
        => Task.FromResult(new HttpRequestMessage(HttpMethod.Get, Url($"{pathAndQuery}&access_token={Uri.EscapeDataString(account.AccessToken)}")));

    private Task<HttpRequestMessage> Form(HttpMethod method, string path, Account account, IEnumerable<KeyValuePair<string, string>> fields)
        => Task.FromResult(new HttpRequestMessage(method, Url(path))
        {
            Content = new FormUrlEncodedContent([.. fields, new("access_token", account.AccessToken)]),
        });

    // posting: whether the request, once sent, may have created the post (only the feed create can).
    private async Task<Answer> SendAsync(Func<Task<HttpRequestMessage>> build, bool posting, string what, CancellationToken cancellationToken)
    {
        string code;
        string message;
        HttpRequestMessage? request = null;
        try
        {
            request = await build();
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await ReadAsync(response, cancellationToken);
            if (response.IsSuccessStatusCode && body is not null && body["error"] is null)
            {
                return new Answer(body, null);
            }

            bool gone = response.StatusCode == System.Net.HttpStatusCode.NotFound
                || (body?["error"] is JsonObject error && error["code"]?.ToString() == "100" && error["error_subcode"]?.ToString() == "33");
            return new Answer(null, GraphErrors.Failure(response, body, what, posting), gone);
        }
        catch (Exception e) when (MediaUnavailableException.In(e) is { } media)
        {
            return new Answer(null, new Failed(ConnectorErrors.MediaUnavailable, media.Message, Retryable: true));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            code = ConnectorErrors.Timeout;
            message = $"Facebook did not answer the request for {what} within {http.Timeout.TotalSeconds:0.#} s.";
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            // No connection was made: nothing was sent.
            return new Answer(null, new Failed(ConnectorErrors.NetworkError, $"Facebook could not be reached: {e.Message}", Retryable: true));
        }
        catch (HttpRequestException e)
        {
            code = ConnectorErrors.NetworkError;
            message = $"The connection to Facebook was lost during the request for {what}: {e.Message}";
        }
        finally
        {
            request?.Dispose();
        }

        return new Answer(null, posting ? Unknown(code, message) : new Failed(code, message, Retryable: true));
    }

    private static async Task<JsonObject?> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

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
            null => "The Facebook Page account's credentials are not a JSON object; connect the Page again.",
            { AccessToken: null or "" } => "The Facebook Page account's credentials have no accessToken; connect the Page again.",
            { PageId: null or "" } => "The Facebook Page account's credentials have no pageId; connect the Page again.",
            { PageId: { } id } when !PageId().IsMatch(id) => "The Facebook Page account's pageId is not a Page id (digits); connect the Page again.",
            _ => null,
        };
        return problem is null ? new Account(credentials!.PageId!, credentials.AccessToken!) : null;
    }

    private static string? FirstLink(string text) => Link().Match(text) is { Success: true } match ? match.Value.TrimEnd('.', ',', ';', ':', '!', '?', ')') : null;

    [GeneratedRegex(@"^\d{1,32}$")]
    private static partial Regex PageId();

    [GeneratedRegex(@"https?://[^\s<>""]+", RegexOptions.IgnoreCase)]
    private static partial Regex Link();

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Target {TargetId}: an earlier attempt's post is on the Page as {PostId}; nothing is posted again")]
        public static partial void FoundEarlier(ILogger logger, string targetId, string postId);
    }
}

/// <summary>
/// Graph API errors, <c>{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}</c>
/// (https://developers.facebook.com/docs/graph-api/guides/error-handling), as connector results; the platform's message is
/// sanitised and cut short (<see cref="ScheduledPosts.ServiceDefaults.Outbound.PlatformErrorText"/>), the body never shown.
/// </summary>
internal static class GraphErrors
{
    public static Failed Failure(HttpResponseMessage response, JsonObject? body, string what, bool posting)
    {
        int status = (int)response.StatusCode;
        var error = body?["error"] as JsonObject;
        int? code = Int(error?["code"]);
        int? subcode = Int(error?["error_subcode"]);
        string text = string.Join(": ", new[]
        {
            ScheduledPosts.ServiceDefaults.Outbound.PlatformErrorText.Status(status),
            code is { } c ? $"#{c}" + (subcode is { } s ? $"/{s}" : "") : null,
            ScheduledPosts.ServiceDefaults.Outbound.PlatformErrorText.Sanitise(error?["message"] is JsonValue m && m.TryGetValue(out string? message) ? message : null),
        }.Where(part => part is { Length: > 0 }));

        return code switch
        {
            // 190: the token expired, was revoked or is invalid; 102: the session; 10 and 200–299: a permission is missing.
            // A Page token has no refresh: the Page must be connected again.
            190 or 102 or 10 or (>= 200 and <= 299) => new Failed(ConnectorErrors.InvalidCredentials,
                $"Facebook refused the Page's access token for {what} ({text}); connect the Page again.", Retryable: false),
            // 4 app, 17 user, 32 Page, 341 application limit, 613 calls, 80001 Page business-use-case rate limits.
            4 or 17 or 32 or 341 or 613 or 80001 => new Failed(ConnectorErrors.RateLimited, $"Facebook is rate limiting the Page ({text})", Retryable: true, RetryAfter(response)),
            // 368: temporarily blocked for policy violations; 506: a duplicate post; 1609005: the link could not be read.
            368 or 506 or 1609005 => new Failed(ConnectorErrors.Rejected, $"Facebook refused {what} ({text})", Retryable: false),
            // 1 unknown, 2 service: temporary, per Meta's table; the create may or may not have happened.
            1 or 2 => posting && status >= 500
                ? Unknown(ConnectorErrors.PlatformError, $"Facebook failed on {what} ({text})")
                : new Failed(ConnectorErrors.PlatformError, $"Facebook failed on {what} ({text})", Retryable: true, RetryAfter(response)),
            _ when status == 429 => new Failed(ConnectorErrors.RateLimited, $"Facebook is rate limiting the Page ({text})", Retryable: true, RetryAfter(response)),
            _ when status == 401 => new Failed(ConnectorErrors.InvalidCredentials, $"Facebook refused the Page's access token for {what} ({text}); connect the Page again.", Retryable: false),
            _ when status >= 500 => new Failed(ConnectorErrors.PlatformError, $"Facebook failed on {what} ({text})", Retryable: true, RetryAfter(response)),
            _ when status is >= 200 and < 300 => posting
                ? Unknown(ConnectorErrors.PlatformError, $"Facebook answered the request for {what} unreadably.")
                : new Failed(ConnectorErrors.PlatformError, $"Facebook answered the request for {what} unreadably.", Retryable: true),
            _ => new Failed(ConnectorErrors.Rejected, $"Facebook refused {what} ({text})", Retryable: false),
        };
    }

    /// <summary>
    /// How long until the throttled calls work again: <c>Retry-After</c> if sent, else the largest
    /// <c>estimated_time_to_regain_access</c> (minutes) of <c>X-Business-Use-Case-Usage</c> (<c>{"{id}": [{…}]}</c>) or
    /// <c>X-Page-Usage</c> / <c>X-App-Usage</c> (<c>{…}</c>), https://developers.facebook.com/docs/graph-api/overview/rate-limiting.
    /// </summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter?.Delta is { } delta)
        {
            return delta;
        }

        double minutes = 0;
        foreach (string header in new[] { "X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage" })
        {
            if (!response.Headers.TryGetValues(header, out var values))
            {
                continue;
            }

            foreach (string value in values)
            {
                JsonNode? usage;
                try
                {
                    usage = JsonNode.Parse(value);
                }
                catch (JsonException)
                {
                    continue;
                }

                var entries = usage is JsonObject o && o.ContainsKey("estimated_time_to_regain_access")
                    ? [o]
                    : (usage as JsonObject)?.Select(p => p.Value).OfType<JsonArray>().SelectMany(a => a.OfType<JsonObject>()) ?? [];
                foreach (var entry in entries)
                {
                    if (Double(entry["estimated_time_to_regain_access"]) is { } m && m > minutes)
                    {
                        minutes = m;
                    }
                }
            }
        }

        return minutes > 0 ? TimeSpan.FromMinutes(minutes) : null;
    }

    private static int? Int(JsonNode? node)
    {
        if (node is not JsonValue value)
        {
            return null;
        }

        if (value.TryGetValue(out int number))
        {
            return number;
        }

        return value.TryGetValue(out string? text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out number) ? number : null;
    }

    private static double? Double(JsonNode? node)
        => node is JsonValue value && value.TryGetValue(out double d) ? d : null;
}
