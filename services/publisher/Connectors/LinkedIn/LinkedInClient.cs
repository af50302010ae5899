using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.LinkedIn;

/// <summary>
/// One LinkedIn author to post as: a member (<c>urn:li:person:…</c>) or an organisation (<c>urn:li:organization:…</c>),
/// and the member's OAuth access token. Not a record, so that no generated <c>ToString</c> prints the token.
/// </summary>
public sealed class LinkedInAccount(string accessToken, string author)
{
    public string AccessToken { get; } = accessToken;

    public string Author { get; } = author;

    public override string ToString() => Author;
}

/// <summary>
/// LinkedIn's versioned REST API (<c>/rest/…</c>, headers <c>LinkedIn-Version</c> and <c>X-Restli-Protocol-Version: 2.0.0</c>):
/// images through the Images API (initializeUpload, then a PUT of the bytes to the upload URL), a video through the
/// Videos API (initializeUpload, a PUT of each part, finalizeUpload, then its status until AVAILABLE), the post through the
/// Posts API (the new post's URN in the <c>x-restli-id</c> header), and the author's recent posts for a lookup.
/// Errors are <c>{"status", "serviceErrorCode", "code", "message"}</c>; a failure shows the status, the code and the
/// sanitised message (README.md lists the pages).
/// </summary>
public sealed partial class LinkedInClient(HttpClient http, IOptions<LinkedInOptions> options, TimeProvider clock, ILogger<LinkedInClient> logger)
{
    public const string RestliProtocolVersion = "2.0.0";

    // Posts found by a lookup may have been created a little before our clock's FirstAttemptAt.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(2);

    // The most bytes of an error body read: LinkedIn's errors are short JSON objects.
    private const int MaxErrorBytes = 16 * 1024;

    private const int LookupPageSize = 50;

    private LinkedInOptions Options => options.Value;

    private sealed record UploadAnswer(UploadValue? Value);

    private sealed record UploadValue(string? UploadUrl, string? Image);

    private sealed record PostsPage(List<JsonObject>? Elements);

    /// <summary>The images, then the post; a lost answer to the post's create is <see cref="Failed.OutcomeUnknown"/>.</summary>
    public async Task<ConnectorResult> PublishAsync(LinkedInAccount account, Upload upload, CancellationToken cancellationToken)
    {
        if (Refused(upload) is { } refused)
        {
            return refused;
        }

        var images = new JsonArray();
        if (upload.Media is [var only] && MediaKind.Of(only.ContentType) == MediaKind.Video)
        {
            var (video, failure) = await UploadVideoAsync(account, only, cancellationToken);
            if (video is null)
            {
                return failure!;
            }

            images.Add(new JsonObject { ["id"] = video });
        }
        else
        {
            foreach (var media in upload.Media)
            {
                var (image, failure) = await UploadImageAsync(account, media, cancellationToken);
                if (image is null)
                {
                    return failure!;
                }

                var entry = new JsonObject { ["id"] = image };
                if (media.Description is { Length: > 0 } alt)
                {
                    entry["altText"] = alt;
                }

                images.Add(entry);
            }
        }

        var post = new JsonObject
        {
            ["author"] = account.Author,
            ["commentary"] = LinkedInText.Escape(upload.Text),
            ["visibility"] = "PUBLIC",
            ["distribution"] = new JsonObject
            {
                ["feedDistribution"] = "MAIN_FEED",
                ["targetEntities"] = new JsonArray(),
                ["thirdPartyDistributionChannels"] = new JsonArray(),
            },
            ["lifecycleState"] = "PUBLISHED",
            ["isReshareDisabledByAuthor"] = false,
        };
        // One image or video is content.media; two to twenty images are a MultiImage post.
        if (images.Count == 1)
        {
            post["content"] = new JsonObject { ["media"] = images[0]!.DeepClone() };
        }
        else if (images.Count > 1)
        {
            post["content"] = new JsonObject { ["multiImage"] = new JsonObject { ["images"] = images } };
        }

        var (response, sendFailure) = await SendAsync(() => Rest(HttpMethod.Post, account, "rest/posts", JsonContent.Create(post)), posting: true, cancellationToken);
        if (response is null)
        {
            return sendFailure!;
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                return await FailureAsync(response, "the post", cancellationToken);
            }

            if (response.Headers.TryGetValues("x-restli-id", out var ids) && ids.FirstOrDefault() is { Length: > 0 } id)
            {
                return Published(id);
            }

            // Created, but which post is not said: the lookup before a retry finds it.
            return Unknown(ConnectorErrors.PlatformError,
                $"LinkedIn answered {PlatformErrorText.Status((int)response.StatusCode)} to the post without naming it (no x-restli-id).");
        }
    }

    /// <summary>
    /// Posts API "Delete Posts" (https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api#delete-posts):
    /// <c>DELETE /rest/posts/{encoded post URN}</c> with the versioned headers and <c>X-RestLi-Method: DELETE</c>; 204 No
    /// Content. Deletes are idempotent (a post deleted already answers 204 too); a 404 is a post LinkedIn no longer has.
    /// </summary>
    public async Task<Failed?> DeletePostAsync(LinkedInAccount account, string urn, CancellationToken cancellationToken)
    {
        var (response, failure) = await SendAsync(async () =>
        {
            var request = await Rest(HttpMethod.Delete, account, $"rest/posts/{Uri.EscapeDataString(urn)}");
            request.Headers.Add("X-RestLi-Method", "DELETE");
            return request;
        }, posting: false, cancellationToken);
        if (response is null)
        {
            return failure;
        }

        using (response)
        {
            return response.IsSuccessStatusCode || response.StatusCode == System.Net.HttpStatusCode.NotFound
                ? null
                : await FailureAsync(response, $"the deletion of {urn}", cancellationToken);
        }
    }

    /// <summary>
    /// The author's post an earlier attempt made: among the posts last modified since <see cref="Upload.FirstAttemptAt"/>,
    /// newest first, one created since then whose commentary reads as the upload's text and with as many images.
    /// </summary>
    public async Task<ConnectorResult?> FindEarlierAsync(LinkedInAccount account, Upload upload, CancellationToken cancellationToken)
    {
        var since = (upload.FirstAttemptAt ?? clock.GetUtcNow()) - ClockSkew;
        string expected = LinkedInText.Escape(upload.Text);
        for (int start = 0; start < Math.Max(Options.LookupDepth, 1); start += LookupPageSize)
        {
            string query = $"rest/posts?author={Uri.EscapeDataString(account.Author)}&q=author&count={LookupPageSize}&start={start}&sortBy=LAST_MODIFIED";
            var (response, sendFailure) = await SendAsync(() => Rest(HttpMethod.Get, account, query), posting: false, cancellationToken);
            if (response is null)
            {
                return sendFailure;
            }

            List<JsonObject> posts;
            using (response)
            {
                if (!response.IsSuccessStatusCode)
                {
                    var failed = await FailureAsync(response, "the author's posts", cancellationToken);
                    // A member's posts can be read only with r_member_social, which LinkedIn grants to approved apps: without
                    // it nothing can be looked up, and posting again could make a second copy.
                    return response.StatusCode == HttpStatusCode.Forbidden
                        ? new Failed(ConnectorErrors.UnknownOutcome,
                            $"An earlier attempt may have posted, and LinkedIn refused to list the author's posts to check ({failed.Message}); it is not posted again.",
                            Retryable: false)
                        : failed;
                }

                if (await ReadAsync<PostsPage>(response, cancellationToken) is not { Elements: { } elements })
                {
                    return new Failed(ConnectorErrors.PlatformError, "LinkedIn answered the lookup of the author's posts unreadably.", Retryable: true);
                }

                posts = elements;
            }

            foreach (var post in posts)
            {
                if (Millis(post["createdAt"]) is { } created && created >= since
                    && post["commentary"] is JsonValue commentary && commentary.TryGetValue(out string? text)
                    && (text == expected || LinkedInText.Unescape(text) == upload.Text)
                    && ImageCount(post) == upload.Media.Count
                    && post["id"] is JsonValue idValue && idValue.TryGetValue(out string? id))
                {
                    Log.Found(logger, account.Author, id);
                    return Published(id);
                }
            }

            // Sorted by last modification: a post created since then was modified since then too.
            if (posts.Count < LookupPageSize || posts.All(p => Millis(p["lastModifiedAt"]) is { } modified && modified < since))
            {
                break;
            }
        }

        return null;
    }

    private static Published Published(string urn) => new(urn, $"https://www.linkedin.com/feed/update/{urn}/");

    private static int ImageCount(JsonObject post) => post["content"] switch
    {
        JsonObject { } content when content["multiImage"]?["images"] is JsonArray images => images.Count,
        JsonObject { } content when content["media"] is JsonObject => 1,
        _ => 0,
    };

    private static DateTimeOffset? Millis(JsonNode? node)
        => node is JsonValue value && value.TryGetValue(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary><c>POST rest/{resource}?action=initializeUpload</c> (Images and Videos APIs): its answer, or why there is none.</summary>
    private async Task<(T? Answer, Failed? Failure)> InitializeUploadAsync<T>(LinkedInAccount account, string resource, JsonObject request, string what,
        CancellationToken cancellationToken)
        where T : class
    {
        var body = new JsonObject { ["initializeUploadRequest"] = request };
        var (initialized, failure) = await SendAsync(() => Rest(HttpMethod.Post, account, $"rest/{resource}?action=initializeUpload", JsonContent.Create(body)),
            posting: false, cancellationToken);
        if (initialized is null)
        {
            return (null, failure);
        }

        using (initialized)
        {
            return initialized.IsSuccessStatusCode
                ? (await ReadAsync<T>(initialized, cancellationToken), null)
                : (null, await FailureAsync(initialized, $"the upload of {what}", cancellationToken));
        }
    }

    /// <summary>Images API: initializeUpload with the author as owner, then the bytes PUT to the upload URL it names.</summary>
    private async Task<(string? Image, Failed? Failure)> UploadImageAsync(LinkedInAccount account, UploadMedia media, CancellationToken cancellationToken)
    {
        var (answer, failure) = await InitializeUploadAsync<UploadAnswer>(account, "images", new JsonObject { ["owner"] = account.Author }, media.FileName, cancellationToken);
        if (failure is not null)
        {
            return (null, failure);
        }

        var upload = answer?.Value;

        if (upload is not { UploadUrl.Length: > 0, Image.Length: > 0 } || !Uri.TryCreate(upload.UploadUrl, UriKind.Absolute, out var uploadUrl)
            || uploadUrl.Scheme is not ("https" or "http"))
        {
            return (null, new Failed(ConnectorErrors.PlatformError, $"LinkedIn answered the upload of {media.FileName} without an upload URL and image.", Retryable: true));
        }

        var (put, putFailure) = await SendAsync(async () =>
        {
            var file = await media.Open(cancellationToken);
            var request = new HttpRequestMessage(HttpMethod.Put, uploadUrl)
            {
                Content = media.Length is { } size ? new SizedStreamContent(file, size) : new StreamContent(file),
            };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(media.ContentType);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", account.AccessToken);
            return request;
        }, posting: false, cancellationToken);
        if (put is null)
        {
            return (null, putFailure);
        }

        using (put)
        {
            return put.IsSuccessStatusCode
                ? (upload.Image, null)
                : (null, await FailureAsync(put, $"the bytes of {media.FileName}", cancellationToken));
        }
    }

    private Task<HttpRequestMessage> Rest(HttpMethod method, LinkedInAccount account, string pathAndQuery, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, new Uri(Options.BaseUrl, pathAndQuery)) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", account.AccessToken);
        request.Headers.Add("LinkedIn-Version", Options.Version);
        request.Headers.Add("X-Restli-Protocol-Version", RestliProtocolVersion);
        return Task.FromResult(request);
    }

    // posting: whether the request, once sent, may have made a post; a lost image upload or lookup makes none.
    private async Task<(HttpResponseMessage? Response, Failed? Failure)> SendAsync(Func<Task<HttpRequestMessage>> build, bool posting,
        CancellationToken cancellationToken)
    {
        string code;
        string message;
        HttpRequestMessage? request = null;
        try
        {
            request = await build();
            return (await http.SendAsync(request, cancellationToken), null);
        }
        catch (Exception e) when (MediaUnavailableException.In(e) is { } media)
        {
            return (null, new Failed(ConnectorErrors.MediaUnavailable, media.Message, Retryable: true));
        }
        catch (HttpRequestException e) when (OutboundAddressRefusedException.In(e) is not null)
        {
            return (null, new Failed(ConnectorErrors.DestinationRefused,
                $"{request?.RequestUri?.Authority ?? "LinkedIn"} is not an allowed destination for the Outbound policy. Nothing was sent.", Retryable: false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            code = ConnectorErrors.Timeout;
            message = $"LinkedIn did not answer within {http.Timeout.TotalSeconds:0.#} s.";
        }
        catch (HttpRequestException e)
        {
            code = ConnectorErrors.NetworkError;
            message = $"LinkedIn could not be reached: {PlatformErrorText.Sanitise(e.Message)}";
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
        var (code, message) = await ReadErrorAsync(response, cancellationToken);
        string text = string.Join(": ", new[] { PlatformErrorText.Status(status), code, message }.Where(part => part is { Length: > 0 }));
        return status switch
        {
            // Expired or revoked token (INVALID_ACCESS_TOKEN, REVOKED_ACCESS_TOKEN): the publisher refreshes it and tries once more.
            401 => new Failed(ConnectorErrors.InvalidCredentials, $"LinkedIn refused the account's access token for {what} ({text}).", Retryable: false),
            429 => new Failed(ConnectorErrors.RateLimited, $"LinkedIn is rate limiting ({text}).", Retryable: true, RetryAfter(response)),
            >= 300 and < 400 => new Failed(ConnectorErrors.Rejected, $"LinkedIn answered {what} with a redirect ({text}), which is not followed.", Retryable: false),
            >= 500 => new Failed(ConnectorErrors.PlatformError, $"LinkedIn failed ({text}).", Retryable: true),
            // 400/422 validation (a duplicate post is 422 DUPLICATE_POST), 403 a missing permission or page role.
            _ => new Failed(ConnectorErrors.Rejected, $"LinkedIn refused {what} ({text}).", Retryable: false),
        };
    }

    /// <summary>
    /// LinkedIn documents no reset header: its daily application and member limits reset at midnight UTC
    /// (https://learn.microsoft.com/linkedin/shared/api-guide/concepts/rate-limits). A <c>Retry-After</c>, when one comes
    /// (an infrastructure 429), is honoured; otherwise the retry waits for the next midnight UTC.
    /// </summary>
    private TimeSpan RetryAfter(HttpResponseMessage response)
    {
        var now = clock.GetUtcNow();
        var until = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => now + delta,
            { Date: { } date } => date,
            _ => new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero),
        };
        return until > now ? until - now : TimeSpan.Zero;
    }

    // The error's code (or, for a validation error, the first input error's code) and message, sanitised; never the body.
    private static async Task<(string? Code, string? Message)> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[MaxErrorBytes + 1];
            int read = 0;
            int n;
            while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken)) > 0)
            {
                read += n;
            }

            if (read > MaxErrorBytes || JsonNode.Parse(buffer.AsSpan(0, read)) is not JsonObject error)
            {
                return (null, null);
            }

            string? code = Text(error["code"]) ?? Text(error["errorDetails"]?["inputErrors"]?[0]?["code"]);
            string? message = Text(error["message"]);
            string? detail = Text(error["errorDetails"]?["inputErrors"]?[0]?["description"]);
            return (code, detail is null || message?.Contains(detail, StringComparison.Ordinal) == true ? message : $"{message} ({detail})");
        }
        catch (Exception e) when (e is JsonException or HttpRequestException or IOException or InvalidOperationException)
        {
            return (null, null);
        }

        static string? Text(JsonNode? node)
            => node is JsonValue value && value.TryGetValue(out string? text) && PlatformErrorText.Sanitise(text) is { Length: > 0 } clean ? clean : null;
    }

    private static Task<T?> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken) where T : class
        => ConnectorHttp.ReadJsonOrNullAsync<T>(response, cancellationToken);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "An earlier attempt's post by {Author} was found on LinkedIn: {Urn}")]
        public static partial void Found(ILogger logger, string author, string urn);
    }
}
