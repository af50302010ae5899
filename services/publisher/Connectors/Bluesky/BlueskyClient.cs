using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.Bluesky;

/// <summary>
/// Posting to Bluesky through the AT Protocol's XRPC HTTP API (<c>/xrpc/{NSID}</c>) on the account's PDS: sign in, look
/// the post up by its record key, upload the images, create the post record, then the first comment as a reply record.
/// The methods and records are those of the lexicons in github.com/bluesky-social/atproto (README.md lists them).
/// Errors are XRPC's <c>{"error": "Name", "message": "…"}</c> (https://atproto.com/specs/xrpc#error-responses); a
/// failure shows the status, the error name and the sanitised message (<see cref="PlatformErrorText"/>), never the body.
/// The PDS is user-supplied: the client's handler obeys the <see cref="OutboundPolicy"/> and follows no redirect.
/// </summary>
public sealed partial class BlueskyClient(HttpClient http, BlueskySessions sessions, TimeProvider clock, ILogger logger)
{
    public const string PostCollection = "app.bsky.feed.post";
    public const string ImagesEmbed = "app.bsky.embed.images";

    private static readonly PlatformCapabilities Capabilities = Platforms.Known[Platforms.Bluesky];

    /// <summary>A record as <c>com.atproto.repo.strongRef</c> names it: its <c>at://</c> URI and the CID of its content.</summary>
    private sealed record StrongRef(string Uri, string Cid)
    {
        public JsonObject ToJson() => new() { ["uri"] = Uri, ["cid"] = Cid };
    }

    private sealed record RecordAnswer(string? Uri, string? Cid);

    private sealed record SessionAnswer(string? AccessJwt, string? RefreshJwt, string? Did, string? Handle);

    private sealed record DidAnswer(string? Did);

    /// <summary>What one XRPC call came to: its JSON answer, or how it failed (the platform's status and error name when it answered).</summary>
    private readonly record struct Answer<T>(T? Value, Failed? Failure, int Status = 0, string? Error = null);

    /// <summary>The account and the session one upload uses; <see cref="Fresh"/> once it signed in during this upload.</summary>
    private sealed class Attempt(BlueskyAccount account)
    {
        public BlueskyAccount Account { get; } = account;

        public BlueskySession? Session { get; set; }

        public bool Fresh { get; set; }
    }

    /// <summary>The post, and its first comment as a reply to it.</summary>
    public async Task<ConnectorResult> PublishAsync(BlueskyAccount account, Upload upload, CancellationToken cancellationToken)
    {
        var attempt = new Attempt(account);
        var signIn = await SignInAsync(attempt, renew: false, cancellationToken);
        if (signIn is not null)
        {
            return signIn;
        }

        string rkey = BlueskyRecordKey.From(upload.IdempotencyKey);
        var (post, failure) = await PutPostAsync(attempt, rkey, upload.Text, upload.Media, reply: null, "the post", cancellationToken);
        if (post is null)
        {
            return failure!;
        }

        var published = ToPublished(attempt, post);
        if (upload.FirstComment is not { Length: > 0 } comment)
        {
            return published;
        }

        var (_, replyFailure) = await PutPostAsync(attempt, BlueskyRecordKey.From($"{upload.IdempotencyKey}:first-comment"), comment, [],
            reply: post, "the first comment", cancellationToken);
        switch (replyFailure)
        {
            case null:
                return published;
            case { Retryable: true }:
                // A retry finds the post under its key, and then writes the comment under its own.
                return replyFailure with { Message = $"The post was published as {published.ExternalId}, but not its first comment: {replyFailure.Message}" };
            default:
                // The post is up; calling the target failed would misstate that, and retrying cannot help.
                Log.FirstCommentRefused(logger, upload.TargetId, account.Name, published.ExternalId, replyFailure.Code, replyFailure.Message);
                return published;
        }
    }

    /// <summary>
    /// com.atproto.repo.deleteRecord on the post's record, named by its AT URI (<c>at://{did}/app.bsky.feed.post/{rkey}</c>,
    /// the external id <see cref="ToPublished"/> stores). The lexicon's words: "Delete a repository record, or ensure it
    /// doesn't exist" (lexicons/com/atproto/repo/deleteRecord.json), so a record already gone answers success too.
    /// </summary>
    public async Task<Failed?> DeletePostAsync(BlueskyAccount account, string uri, CancellationToken cancellationToken)
    {
        string[] parts = uri.StartsWith("at://", StringComparison.Ordinal) ? uri["at://".Length..].Split('/') : [];
        if (parts is not [{ Length: > 0 } repo, PostCollection, { Length: > 0 } rkey])
        {
            return new Failed(ConnectorErrors.Rejected, $"'{uri}' is not the AT URI of a Bluesky post; nothing was deleted.", Retryable: false);
        }

        var attempt = new Attempt(account);
        if (await SignInAsync(attempt, renew: false, cancellationToken) is { } signIn)
        {
            return signIn;
        }

        var deleted = await CallAsync<JsonObject>(attempt, session => Task.FromResult(Json(HttpMethod.Post, attempt, "com.atproto.repo.deleteRecord",
            session, new JsonObject { ["repo"] = repo, ["collection"] = PostCollection, ["rkey"] = rkey })), posting: false, "the post's deletion", cancellationToken);
        return deleted switch
        {
            { Value: not null } => null,
            { Status: 404 } or { Status: 400, Error: "RecordNotFound" } => null,
            _ => deleted.Failure,
        };
    }

    private static Published ToPublished(Attempt attempt, StrongRef post)
    {
        string rkey = post.Uri[(post.Uri.LastIndexOf('/') + 1)..];
        // The DID, not the handle: a handle can change, the link then still works.
        return new Published(post.Uri, $"https://bsky.app/profile/{attempt.Session!.Did}/post/{Uri.EscapeDataString(rkey)}");
    }

    /// <summary>
    /// The record under <paramref name="rkey"/>: the one already there (an earlier attempt's), or a new one. A create
    /// whose answer was lost or that failed in a way that could mean the key is taken is checked with getRecord.
    /// </summary>
    private async Task<(StrongRef? Record, Failed? Failure)> PutPostAsync(Attempt attempt, string rkey, string text,
        IReadOnlyList<UploadMedia> media, StrongRef? reply, string what, CancellationToken cancellationToken)
    {
        var (existing, lookupFailure) = await FindRecordAsync(attempt, rkey, cancellationToken);
        if (existing is not null || lookupFailure is not null)
        {
            return (existing, lookupFailure);
        }

        var record = new JsonObject
        {
            ["$type"] = PostCollection,
            ["text"] = text,
            ["createdAt"] = clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        };

        var spans = BlueskyRichText.Find(text);
        var (dids, resolveFailure) = await ResolveMentionsAsync(attempt, spans, cancellationToken);
        if (resolveFailure is not null)
        {
            return (null, resolveFailure);
        }

        if (BlueskyRichText.Facets(text, spans, dids!) is { Count: > 0 } facets)
        {
            record["facets"] = facets;
        }

        if (media.Count > 0)
        {
            var images = new JsonArray();
            foreach (var file in media)
            {
                var (blob, failure) = await UploadBlobAsync(attempt, file, cancellationToken);
                if (blob is null)
                {
                    return (null, failure);
                }

                // alt is required by app.bsky.embed.images#image; an image without a description has an empty one.
                images.Add(new JsonObject { ["image"] = blob, ["alt"] = file.Description ?? "" });
            }

            record["embed"] = new JsonObject { ["$type"] = ImagesEmbed, ["images"] = images };
        }

        if (reply is not null)
        {
            record["reply"] = new JsonObject { ["root"] = reply.ToJson(), ["parent"] = reply.ToJson() };
        }

        var created = await CallAsync<RecordAnswer>(attempt, session => Task.FromResult(Json(HttpMethod.Post, attempt, "com.atproto.repo.createRecord",
            session, new JsonObject { ["repo"] = session.Did, ["collection"] = PostCollection, ["rkey"] = rkey, ["record"] = record })),
            posting: true, what, cancellationToken);
        if (created.Value is { Uri.Length: > 0, Cid.Length: > 0 } answer)
        {
            return (new StrongRef(answer.Uri, answer.Cid), null);
        }

        var failed = created.Failure ?? Unknown(ConnectorErrors.PlatformError, $"{attempt.Account.Name} answered the request for {what} with an unreadable record.");
        // Rate limits and refused credentials stop a request before it writes. Anything else may have written the record
        // (a lost answer), or may say the key is taken (a PDS answers a create under a used key with an error): look.
        if (failed.Code is ConnectorErrors.RateLimited or ConnectorErrors.InvalidCredentials or ConnectorErrors.DestinationRefused)
        {
            return (null, failed);
        }

        var (found, _) = await FindRecordAsync(attempt, rkey, cancellationToken);
        if (found is not null)
        {
            Log.Reconciled(logger, attempt.Account.Name, found.Uri, failed.Code);
            return (found, null);
        }

        return (null, failed);
    }

    /// <summary>com.atproto.repo.getRecord: the post under <paramref name="rkey"/>, or neither when there is none.</summary>
    private async Task<(StrongRef? Record, Failed? Failure)> FindRecordAsync(Attempt attempt, string rkey, CancellationToken cancellationToken)
    {
        var found = await CallAsync<RecordAnswer>(attempt, session => Task.FromResult(Query(attempt, "com.atproto.repo.getRecord", session,
            ("repo", session.Did), ("collection", PostCollection), ("rkey", rkey))), posting: false, "the post's record", cancellationToken);
        return found switch
        {
            { Value: { Uri.Length: > 0, Cid.Length: > 0 } record } => (new StrongRef(record.Uri, record.Cid), null),
            { Status: 400 or 404, Error: "RecordNotFound" } or { Status: 404 } => (null, null),
            _ => (null, found.Failure ?? new Failed(ConnectorErrors.PlatformError, $"{attempt.Account.Name} answered getRecord with an unreadable record.", Retryable: true)),
        };
    }

    /// <summary>com.atproto.identity.resolveHandle for each mentioned handle; one that does not resolve is left out.</summary>
    private async Task<(Dictionary<string, string>? Dids, Failed? Failure)> ResolveMentionsAsync(Attempt attempt,
        IReadOnlyList<BlueskyRichText.Span> spans, CancellationToken cancellationToken)
    {
        var dids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string handle in spans.Where(s => !s.IsLink).Select(s => s.Value).Distinct(StringComparer.Ordinal))
        {
            var resolved = await CallAsync<DidAnswer>(attempt, session => Task.FromResult(Query(attempt, "com.atproto.identity.resolveHandle", session,
                ("handle", handle))), posting: false, $"the mention @{handle}", cancellationToken);
            if (resolved.Value is { Did: { } did } && did.StartsWith("did:", StringComparison.Ordinal))
            {
                dids[handle] = did;
            }
            else if (resolved.Status is not (400 or 404) || resolved.Failure?.Code == ConnectorErrors.InvalidCredentials)
            {
                // Unreachable, rate limited, failing: nothing is posted yet, so the attempt fails rather than lose the mention.
                return (null, resolved.Failure ?? new Failed(ConnectorErrors.PlatformError, $"{attempt.Account.Name} answered resolveHandle unreadably.", Retryable: true));
            }
        }

        return (dids, null);
    }

    /// <summary>com.atproto.repo.uploadBlob: the image's bytes as the body, its type as the Content-Type; the blob reference back.</summary>
    private async Task<(JsonNode? Blob, Failed? Failure)> UploadBlobAsync(Attempt attempt, UploadMedia media, CancellationToken cancellationToken)
    {
        if (media.Length is { } length && length > Capabilities.MaxMediaBytes)
        {
            return (null, new Failed(ConnectorErrors.Rejected,
                $"{media.FileName} has {length} bytes; Bluesky takes images of at most {Capabilities.MaxMediaBytes} bytes. Nothing was posted.", Retryable: false));
        }

        // Opened per request: a request sent again with a renewed session needs the file from its start.
        var uploaded = await CallAsync<JsonObject>(attempt, async session =>
        {
            var file = await media.Open(cancellationToken);
            var request = new HttpRequestMessage(HttpMethod.Post, Xrpc(attempt, "com.atproto.repo.uploadBlob"))
            {
                Content = media.Length is { } size ? new SizedStreamContent(file, size) : new StreamContent(file),
            };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(media.ContentType);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", session.AccessJwt);
            return request;
        }, posting: false, $"the image {media.FileName}", cancellationToken);
        return uploaded.Value?["blob"] is JsonObject blob
            ? (blob.DeepClone(), null)
            : (null, uploaded.Failure ?? new Failed(ConnectorErrors.PlatformError, $"{attempt.Account.Name} answered uploadBlob without a blob.", Retryable: true));
    }

    /// <summary>
    /// One authenticated call: with the account's session; when the PDS says the access token expired or is not valid,
    /// once more with a renewed one (refreshed, or a new sign-in). A refusal with a session made during this upload is final.
    /// </summary>
    private async Task<Answer<T>> CallAsync<T>(Attempt attempt, Func<BlueskySession, Task<HttpRequestMessage>> build, bool posting, string what,
        CancellationToken cancellationToken) where T : class
    {
        for (int round = 0; ; round++)
        {
            var (response, failure) = await SendAsync(attempt.Account, () => build(attempt.Session!), posting, cancellationToken);
            if (response is null)
            {
                return new Answer<T>(null, failure);
            }

            using (response)
            {
                if (response.IsSuccessStatusCode)
                {
                    return await ReadAsync<T>(response, cancellationToken) is { } value
                        ? new Answer<T>(value, null, (int)response.StatusCode)
                        : new Answer<T>(null, posting
                            ? Unknown(ConnectorErrors.PlatformError, $"{attempt.Account.Name} answered {(int)response.StatusCode} to {what} unreadably.")
                            : new Failed(ConnectorErrors.PlatformError, $"{attempt.Account.Name} answered {(int)response.StatusCode} to {what} unreadably.", Retryable: true),
                            (int)response.StatusCode);
                }

                var (error, message) = await PlatformErrorText.ReadXrpcAsync(response, cancellationToken);
                int status = (int)response.StatusCode;
                if (round == 0 && !attempt.Fresh && IsExpiredSession(status, error))
                {
                    if (await SignInAsync(attempt, renew: true, cancellationToken) is { } signInFailure)
                    {
                        return new Answer<T>(null, signInFailure, status, error);
                    }

                    continue;
                }

                return new Answer<T>(null, Failure(attempt.Account, response, error, message, what), status, error);
            }
        }
    }

    // The PDS answers an expired or unverifiable access token with 400 ExpiredToken or InvalidToken
    // (packages/pds/src/auth-verifier.ts), an entryway or another PDS with a 401.
    private static bool IsExpiredSession(int status, string? error)
        => status == 401 || (status == 400 && error is "ExpiredToken" or "InvalidToken");

    /// <summary>
    /// Makes <see cref="Attempt.Session"/> usable: the kept session, or (<paramref name="renew"/>) a refreshed one, or a
    /// new sign-in with the app password when there is none or the refresh token is refused too.
    /// </summary>
    private async Task<Failed?> SignInAsync(Attempt attempt, bool renew, CancellationToken cancellationToken)
    {
        var account = attempt.Account;
        if (!renew && sessions.Find(account) is { } kept)
        {
            attempt.Session = kept;
            return null;
        }

        if (renew && attempt.Session is { } stale)
        {
            // com.atproto.server.refreshSession: authenticated with the refresh token, not the access token.
            var (response, failure) = await SendAsync(account, () => Task.FromResult(Bearer(new HttpRequestMessage(HttpMethod.Post,
                Xrpc(attempt, "com.atproto.server.refreshSession")), stale.RefreshJwt)), posting: false, cancellationToken);
            if (response is null)
            {
                return failure;
            }

            using (response)
            {
                if (response.IsSuccessStatusCode && await SessionAsync(response, cancellationToken) is { } refreshed)
                {
                    return Use(attempt, refreshed, fresh: true);
                }

                var (error, message) = await PlatformErrorText.ReadXrpcAsync(response, cancellationToken);
                if (!IsExpiredSession((int)response.StatusCode, error) && (int)response.StatusCode is not 400)
                {
                    return Failure(account, response, error, message, "the session's refresh");
                }
            }

            // The refresh token expired or was revoked: sign in again.
            sessions.Forget(account, stale);
        }

        // com.atproto.server.createSession with the app password; its answer is the session.
        var (created, createFailure) = await SendAsync(account, () => Task.FromResult(new HttpRequestMessage(HttpMethod.Post, Xrpc(attempt, "com.atproto.server.createSession"))
        {
            Content = JsonContent.Create(new { identifier = account.Identifier, password = account.AppPassword }),
        }), posting: false, cancellationToken);
        if (created is null)
        {
            return createFailure;
        }

        using (created)
        {
            if (created.IsSuccessStatusCode)
            {
                return await SessionAsync(created, cancellationToken) is { } session
                    ? Use(attempt, session, fresh: true)
                    : new Failed(ConnectorErrors.PlatformError, $"{account.Name} answered createSession without a session.", Retryable: true);
            }

            var (error, message) = await PlatformErrorText.ReadXrpcAsync(created, cancellationToken);
            // A wrong identifier or app password is a 401 AuthenticationRequired; a taken-down account, or one whose
            // sign-in wants an emailed code (never asked of an app password), cannot post until its owner acts.
            return created.StatusCode == HttpStatusCode.Unauthorized || error is "AccountTakedown" or "AuthFactorTokenRequired"
                ? new Failed(ConnectorErrors.InvalidCredentials,
                    $"{account.Name} refused to sign in {account.Identifier} with its app password ({Text((int)created.StatusCode, error, message)}); connect the account again with a valid app password.",
                    Retryable: false)
                : Failure(account, created, error, message, "the sign-in");
        }
    }

    private Failed? Use(Attempt attempt, BlueskySession session, bool fresh)
    {
        sessions.Keep(attempt.Account, session);
        attempt.Session = session;
        attempt.Fresh = fresh;
        Log.SignedIn(logger, attempt.Account.Name, session.Did);
        return null;
    }

    private static async Task<BlueskySession?> SessionAsync(HttpResponseMessage response, CancellationToken cancellationToken)
        => await ReadAsync<SessionAnswer>(response, cancellationToken) is { AccessJwt.Length: > 0, RefreshJwt.Length: > 0, Did.Length: > 0 } answer
            ? new BlueskySession(answer.AccessJwt, answer.RefreshJwt, answer.Did, answer.Handle ?? answer.Did)
            : null;

    private static Uri Xrpc(Attempt attempt, string method) => new(attempt.Account.Service, $"xrpc/{method}");

    private static HttpRequestMessage Bearer(HttpRequestMessage request, string token)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static HttpRequestMessage Json(HttpMethod method, Attempt attempt, string xrpcMethod, BlueskySession session, JsonObject body)
        => Bearer(new HttpRequestMessage(method, Xrpc(attempt, xrpcMethod)) { Content = JsonContent.Create(body) }, session.AccessJwt);

    private static HttpRequestMessage Query(Attempt attempt, string xrpcMethod, BlueskySession session, params (string Name, string Value)[] parameters)
    {
        string query = string.Join('&', parameters.Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value)}"));
        return Bearer(new HttpRequestMessage(HttpMethod.Get, new Uri(attempt.Account.Service, $"xrpc/{xrpcMethod}?{query}")), session.AccessJwt);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
            Message = "Target {TargetId} was posted to {Server} as {ExternalId}, but its first comment was refused: {ErrorCode} {ErrorMessage}")]
        public static partial void FirstCommentRefused(ILogger logger, string targetId, string server, string externalId, string errorCode, string errorMessage);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information,
            Message = "A create on {Server} failed with {ErrorCode}, but its record exists under the target's key: {Uri}")]
        public static partial void Reconciled(ILogger logger, string server, string uri, string errorCode);

        [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Signed in to {Server} as {Did}")]
        public static partial void SignedIn(ILogger logger, string server, string did);
    }
}
