using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.Mastodon;

/// <summary>One Mastodon account to post as: the server's base URL and the account's access token.</summary>
/// <param name="Name">How messages name the server (<c>mastodon.social</c>, <c>The sandbox</c>).</param>
public sealed record MastodonAccount(string Name, Uri BaseUrl, string AccessToken);

/// <summary>How long to wait for media the server processes in the background (a 202 from <c>POST /api/v2/media</c>).</summary>
public sealed record MediaPolling(TimeSpan Interval, TimeSpan Timeout)
{
    public static MediaPolling Default { get; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
}

/// <summary>
/// Posting through Mastodon's REST API: media first, then the status, then the first comment as a reply to it.
/// Shared by the Mastodon connector and the sandbox's, which speaks the same subset. Built from the documentation:
/// <list type="bullet">
/// <item>https://docs.joinmastodon.org/methods/statuses/#create — <c>POST /api/v1/statuses</c>, form fields
/// <c>status</c>, <c>media_ids[]</c>, <c>in_reply_to_id</c>; headers <c>Authorization: Bearer</c> and
/// <c>Idempotency-Key</c> (kept for an hour); 200 with the Status, 401 and 422 with <c>{"error": "…"}</c>.</item>
/// <item>https://docs.joinmastodon.org/methods/media/#v2 — <c>POST /api/v2/media</c>, multipart <c>file</c> and
/// <c>description</c>; 200 with the MediaAttachment, or 202 with a null <c>url</c> while the file is processed.</item>
/// <item>https://docs.joinmastodon.org/methods/media/#get — <c>GET /api/v1/media/:id</c>: 200 once processed,
/// 206 while still processing.</item>
/// <item>https://docs.joinmastodon.org/api/rate-limits/ — a 429 carries <c>X-RateLimit-Reset</c>, a timestamp.</item>
/// </list>
/// Every request carries the same idempotency key on every attempt (the first comment its own, derived one), so a
/// retry after a timeout returns the statuses already made instead of posting them again. Media uploads take no
/// key: a retry may leave an unattached copy on the server (Mastodon deletes those), never a second post.
/// The server is user-supplied: the client's handler obeys the <see cref="OutboundPolicy"/> (allowed addresses only,
/// no redirects), and a failure shows the status and at most the server's documented JSON <c>error</c>, sanitised
/// (<see cref="PlatformErrorText"/>), never the raw body.
/// </summary>
public sealed partial class MastodonClient(HttpClient http, TimeProvider clock, ILogger logger)
{
    private sealed record StatusResponse(string? Id, string? Url, string? Uri);

    private sealed record MediaResponse(string? Id, string? Url);

    /// <summary>The one or two statuses an upload makes, and the media before them.</summary>
    public async Task<ConnectorResult> PublishAsync(MastodonAccount account, Upload upload, MediaPolling polling, CancellationToken cancellationToken)
    {
        var mediaIds = new List<string>(upload.Media.Count);
        foreach (var media in upload.Media)
        {
            var (mediaId, failure) = await UploadMediaAsync(account, media, polling, cancellationToken);
            if (failure is not null)
            {
                return failure;
            }

            mediaIds.Add(mediaId!);
        }

        var status = await PostStatusAsync(account, upload.Text, mediaIds, inReplyToId: null, upload.IdempotencyKey, cancellationToken);
        if (status is not Published published || upload.FirstComment is not { Length: > 0 } comment)
        {
            return status;
        }

        var reply = await PostStatusAsync(account, comment, [], published.ExternalId, $"{upload.IdempotencyKey}:first-comment", cancellationToken);
        switch (reply)
        {
            case Failed { Retryable: true } failed:
                // A retry posts the status again under its key, which returns this one, and then the comment.
                return failed with { Message = $"The status was posted as {published.ExternalId}, but not its first comment: {failed.Message}" };
            case Failed failed:
                // The post is up; calling the target failed would misstate that, and retrying cannot help.
                Log.FirstCommentRefused(logger, upload.TargetId, account.Name, published.ExternalId, failed.Code, failed.Message);
                return published;
            default:
                return published;
        }
    }

    /// <summary>
    /// Deletes a status of the account (https://docs.joinmastodon.org/methods/statuses/#delete — <c>DELETE
    /// /api/v1/statuses/:id</c>, 200 with the deleted status). A 404 means the server has it no more (an earlier attempt
    /// deleted it, or its author did): removed all the same. Null once removed.
    /// </summary>
    public async Task<Failed?> DeleteStatusAsync(MastodonAccount account, string statusId, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Delete, account, $"api/v1/statuses/{Uri.EscapeDataString(statusId)}");
        // A lost answer leaves a deletion that may or may not have happened: trying again is safe, so it is a plain retryable failure.
        var (response, failure) = await SendAsync(account, request, posting: false, cancellationToken);
        if (response is null)
        {
            return failure;
        }

        using (response)
        {
            return response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.NotFound
                ? null
                : await FailureAsync(account, response, $"the deletion of status {statusId}", cancellationToken);
        }
    }

    private async Task<ConnectorResult> PostStatusAsync(MastodonAccount account, string text, IReadOnlyList<string> mediaIds,
        string? inReplyToId, string idempotencyKey, CancellationToken cancellationToken)
    {
        var form = new List<KeyValuePair<string, string>> { new("status", text) };
        form.AddRange(mediaIds.Select(id => new KeyValuePair<string, string>("media_ids[]", id)));
        if (inReplyToId is not null)
        {
            form.Add(new("in_reply_to_id", inReplyToId));
        }

        using var request = Request(HttpMethod.Post, account, "api/v1/statuses");
        request.Content = new FormUrlEncodedContent(form);
        if (idempotencyKey.Length > 0)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        }

        var (response, failure) = await SendAsync(account, request, posting: true, cancellationToken);
        if (response is null)
        {
            return failure!;
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                return await FailureAsync(account, response, inReplyToId is null ? "the status" : "the first comment", cancellationToken);
            }

            var status = await ReadAsync<StatusResponse>(response, cancellationToken);
            // The status exists but we cannot tell which: retrying under the same key returns it again.
            return status is { Id.Length: > 0 }
                ? new Published(status.Id, status.Url ?? status.Uri ?? "")
                : Unknown(ConnectorErrors.PlatformError, $"{account.Name} answered {(int)response.StatusCode} with an unreadable status.");
        }
    }

    private async Task<(string? Id, Failed? Failure)> UploadMediaAsync(MastodonAccount account, UploadMedia media, MediaPolling polling,
        CancellationToken cancellationToken)
    {
        Stream file;
        try
        {
            file = await media.Open(cancellationToken);
        }
        catch (MediaUnavailableException e)
        {
            return (null, new Failed(ConnectorErrors.MediaUnavailable, e.Message, Retryable: true));
        }

        await using var _ = file;
        using var content = new MultipartFormDataContent();
        var fileContent = media.Length is { } length ? new SizedStreamContent(file, length) : new StreamContent(file);
        fileContent.Headers.ContentType = MediaTypeHeaderValue.Parse(media.ContentType);
        content.Add(fileContent, "file", media.FileName);
        if (media.Description is { Length: > 0 } description)
        {
            content.Add(new StringContent(description), "description");
        }

        using var request = Request(HttpMethod.Post, account, "api/v2/media");
        request.Content = content;
        var (response, failure) = await SendAsync(account, request, posting: false, cancellationToken);
        if (response is null)
        {
            return (null, failure);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                return (null, await FailureAsync(account, response, $"the media file {media.FileName}", cancellationToken));
            }

            var attachment = await ReadAsync<MediaResponse>(response, cancellationToken);
            if (attachment is not { Id.Length: > 0 })
            {
                return (null, new Failed(ConnectorErrors.PlatformError, $"{account.Name} answered {(int)response.StatusCode} with an unreadable media attachment.", Retryable: true));
            }

            // 202: the full-size file is still being processed, and a status cannot attach it until it is.
            return response.StatusCode == HttpStatusCode.Accepted
                ? await WaitForMediaAsync(account, attachment.Id, media.FileName, polling, cancellationToken)
                : (attachment.Id, null);
        }
    }

    private async Task<(string? Id, Failed? Failure)> WaitForMediaAsync(MastodonAccount account, string mediaId, string fileName,
        MediaPolling polling, CancellationToken cancellationToken)
    {
        var giveUpAt = clock.GetUtcNow() + polling.Timeout;
        while (clock.GetUtcNow() < giveUpAt)
        {
            await Task.Delay(polling.Interval, clock, cancellationToken);
            using var request = Request(HttpMethod.Get, account, $"api/v1/media/{Uri.EscapeDataString(mediaId)}");
            var (response, failure) = await SendAsync(account, request, posting: false, cancellationToken);
            if (response is null)
            {
                return (null, failure);
            }

            using (response)
            {
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return (mediaId, null);
                }

                if (response.StatusCode != HttpStatusCode.PartialContent)
                {
                    return (null, await FailureAsync(account, response, $"the media file {fileName}", cancellationToken));
                }
            }
        }

        return (null, new Failed(ConnectorErrors.MediaNotReady,
            $"{account.Name} had not finished processing the media file {fileName} after {polling.Timeout.TotalSeconds:0.#} s.", Retryable: true));
    }

    private static HttpRequestMessage Request(HttpMethod method, MastodonAccount account, string path)
    {
        var request = new HttpRequestMessage(method, new Uri(account.BaseUrl, path));
        if (account.AccessToken.Length > 0)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", account.AccessToken);
        }

        return request;
    }

    // posting: whether the request, once sent, may have made a status; a lost media upload posts nothing.
    private async Task<(HttpResponseMessage? Response, Failed? Failure)> SendAsync(MastodonAccount account, HttpRequestMessage request,
        bool posting, CancellationToken cancellationToken)
    {
        string? message;
        string code;
        try
        {
            return (await http.SendAsync(request, cancellationToken), null);
        }
        catch (Exception e) when (MediaUnavailableException.In(e) is { } media)
        {
            // Reading the file failed while it was being sent (handlers wrap that differently): nothing was posted.
            return (null, new Failed(ConnectorErrors.MediaUnavailable, media.Message, Retryable: true));
        }
        catch (HttpRequestException e) when (OutboundAddressRefusedException.In(e) is not null)
        {
            // Refused before connecting: nothing reached the server, and trying again cannot help.
            return (null, new Failed(ConnectorErrors.DestinationRefused,
                $"{account.Name} is not an allowed destination: it resolves to a loopback, private, link-local or metadata address. Nothing was sent.",
                Retryable: false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            code = ConnectorErrors.Timeout;
            message = $"{account.Name} did not answer within {http.Timeout.TotalSeconds:0.#} s.";
        }
        catch (HttpRequestException e)
        {
            code = ConnectorErrors.NetworkError;
            message = $"{account.Name} could not be reached: {e.Message}";
        }

        return (null, posting ? Unknown(code, message) : new Failed(code, message, Retryable: true));
    }

    private async Task<Failed> FailureAsync(MastodonAccount account, HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        string error = await ErrorTextAsync(response, cancellationToken);
        return response.StatusCode switch
        {
            // Redirects are not followed (they could lead to an address the policy refuses): the request did nothing.
            >= HttpStatusCode.MultipleChoices and < HttpStatusCode.BadRequest => new Failed(ConnectorErrors.Rejected,
                $"{account.Name} answered the request for {what} with a redirect ({error}), which is not followed; connect the account with the instance's final URL.",
                Retryable: false),
            HttpStatusCode.TooManyRequests => new Failed(ConnectorErrors.RateLimited,
                $"{account.Name} is rate limiting ({error})", Retryable: true, RetryAfter(response)),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new Failed(ConnectorErrors.InvalidCredentials,
                $"{account.Name} refused the account's access token ({error})", Retryable: false),
            >= HttpStatusCode.InternalServerError => new Failed(ConnectorErrors.PlatformError,
                $"{account.Name} failed ({error})", Retryable: true, RetryAfter(response)),
            _ => new Failed(ConnectorErrors.Rejected, $"{account.Name} refused {what} ({error})", Retryable: false),
        };
    }

    // Retry-After when given; else Mastodon's X-RateLimit-Reset, the time its window resets.
    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var now = clock.GetUtcNow();
        DateTimeOffset? until = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => now + delta,
            { Date: { } date } => date,
            _ => response.Headers.TryGetValues("X-RateLimit-Reset", out var values)
                 && DateTimeOffset.TryParse(values.First(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var reset)
                ? reset
                : null,
        };
        return until is { } at ? (at > now ? at - now : TimeSpan.Zero) : null;
    }

    private static async Task<T?> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken) where T : class
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(cancellationToken);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // The status with its standard phrase, and Mastodon's {"error": "…"} when it sent one, sanitised; never the body itself.
    private static async Task<string> ErrorTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string status = PlatformErrorText.Status((int)response.StatusCode);
        return await PlatformErrorText.ReadAsync(response, cancellationToken) is { } error ? $"{status}: {error}" : status;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
            Message = "Target {TargetId} was posted to {Server} as {ExternalId}, but its first comment was refused: {ErrorCode} {ErrorMessage}")]
        public static partial void FirstCommentRefused(ILogger logger, string targetId, string server, string externalId, string errorCode, string errorMessage);
    }
}
