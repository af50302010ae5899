using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ScheduledPosts.Testing.FakePlatforms;

/// <summary>
/// A fake of X's API v2 and its OAuth 2.0 endpoints, on a real loopback HTTP server, after the official docs:
/// <c>GET /i/oauth2/authorize</c> and <c>POST /2/oauth2/token</c> (authorization code with PKCE S256, a confidential
/// client authenticating with a Basic header, access tokens of 2 hours, refresh tokens with <c>offline.access</c> that
/// rotate on each use; https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code), <c>GET /2/users/me</c>,
/// <c>POST /2/media/upload</c> (multipart, <c>tweet_image</c>; or the chunked upload's INIT, APPEND and FINALIZE for a
/// <c>tweet_video</c>, then <c>GET /2/media/upload?command=STATUS</c> reporting <c>processing_info</c>;
/// https://docs.x.com/x-api/media/quickstart/media-upload-chunked), <c>POST /2/media/metadata</c> (alt text),
/// <c>POST /2/tweets</c> (duplicate text refused with 403), <c>DELETE /2/tweets/{id}</c> (the author's own post only,
/// <c>{"data": {"deleted": true}}</c>, 404 for a post it does not have) and <c>GET /2/users/{id}/tweets</c> (newest first, links
/// shown as t.co, a media link appended, <c>start_time</c>, <c>max_results</c>, <c>pagination_token</c>). Errors are
/// problem details; 429s carry <c>x-rate-limit-*</c>. Thread-safe: the test hooks may be called while requests run.
/// </summary>
public sealed partial class FakeX : IAsyncDisposable
{
    public const string UserId = "1500000000000000001";
    public const string Username = "fakeposter";
    public const string Name = "Fake Poster";
    public const string ClientId = "fake-x-client";
    public const string ClientSecret = "fake-x-secret";

    /// <summary>The scopes X's consent screen knows of (a subset); an authorize request asking for another is refused.</summary>
    public static readonly IReadOnlySet<string> KnownScopes = new HashSet<string>(StringComparer.Ordinal)
    {
        "tweet.read", "tweet.write", "users.read", "media.write", "offline.access", "like.read", "like.write",
    };

    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromHours(2);

    private readonly WebApplication _app;
    private readonly TimeProvider _clock;
    private readonly object _gate = new();
    private readonly Dictionary<string, AuthorizationCode> _codes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AccessToken> _accessTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _refreshTokens = new(StringComparer.Ordinal); // token → grant id
    private readonly HashSet<string> _revokedGrants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeXMedia> _media = new(StringComparer.Ordinal);
    private readonly List<FakeXPost> _posts = [];
    private readonly ConcurrentQueue<FakeXRequest> _requests = new();
    private long _nextId = 1_860_000_000_000_000_000;
    private int _rateLimitedCreates;
    private DateTimeOffset _rateLimitReset;
    private int _lostCreateAnswers;
    private readonly List<FakeXPost> _deleted = [];
    private readonly Queue<int> _deleteFailures = new();
    private readonly Dictionary<string, VideoUpload> _videos = new(StringComparer.Ordinal);
    private string? _videoFailure;

    // A chunked upload: its declared size and type, its segments, and once finalized how many STATUS polls remain.
    private sealed class VideoUpload(string ownerId, long totalBytes, string type)
    {
        public string OwnerId { get; } = ownerId;
        public long TotalBytes { get; } = totalBytes;
        public string Type { get; } = type;
        public SortedDictionary<int, byte[]> Segments { get; } = [];
        public bool Finalized { get; set; }
        public int PollsLeft { get; set; }
        public string? Failure { get; set; }
        public int Polls { get; set; }

        public string State => !Finalized ? "pending" : PollsLeft > 0 ? "in_progress" : Failure is null ? "succeeded" : "failed";
    }

    private sealed record AuthorizationCode(string RedirectUri, string Challenge, string Scope, DateTimeOffset ExpiresAt);

    private sealed record AccessToken(string GrantId, string UserId, string Scope, DateTimeOffset ExpiresAt);

    private FakeX(WebApplication app, Uri baseUrl, TimeProvider clock, IReadOnlyCollection<string>? redirectUris)
    {
        _app = app;
        BaseUrl = baseUrl;
        _clock = clock;
        RedirectUris = redirectUris;
    }

    /// <summary>The server's root: the API base URL (<c>2/…</c> under it).</summary>
    public Uri BaseUrl { get; }

    public Uri AuthorizeUrl => new(BaseUrl, "i/oauth2/authorize");

    public Uri TokenUrl => new(BaseUrl, "2/oauth2/token");

    /// <summary>The app's registered callback URLs; null accepts any absolute http(s) URL.</summary>
    public IReadOnlyCollection<string>? RedirectUris { get; }

    /// <summary>Every post created, oldest first.</summary>
    public IReadOnlyList<FakeXPost> Posts
    {
        get
        {
            lock (_gate)
            {
                return [.. _posts];
            }
        }
    }

    /// <summary>Every API request (the OAuth endpoints too), in the order they arrived.</summary>
    public IReadOnlyList<FakeXRequest> Requests => [.. _requests];

    public int CreateRequests => Requests.Count(r => r is { Method: "POST", Path: "/2/tweets" });

    /// <summary>
    /// How many STATUS polls a finalized video takes to be done: FINALIZE answers <c>pending</c>, the polls before the last
    /// <c>in_progress</c>, the last <c>succeeded</c> (or <c>failed</c>). 0: ready at FINALIZE, no <c>processing_info</c>.
    /// </summary>
    public int VideoProcessingPolls { get; set; }

    /// <summary>The <c>check_after_secs</c> X names while a video is processing.</summary>
    public int CheckAfterSecs { get; set; } = 1;

    /// <summary>The STATUS requests received.</summary>
    public int StatusRequests => Requests.Count(r => r is { Method: "GET", Path: "/2/media/upload" });

    /// <summary>The next finalized video's processing ends <c>failed</c> with <paramref name="message"/> (X's <c>error.message</c>).</summary>
    public void FailNextVideoProcessing(string message)
    {
        lock (_gate)
        {
            _videoFailure = message;
        }
    }

    /// <summary>Starts the fake on <paramref name="address"/> (127.0.0.1 unless said), on a free port.</summary>
    public static async Task<FakeX> StartAsync(IPAddress? address = null, TimeProvider? clock = null, IReadOnlyCollection<string>? redirectUris = null)
    {
        FakeX? fake = null;
        var (app, baseUrl) = await LoopbackHost.StartAsync(address ?? IPAddress.Loopback, app => app.Run(context => fake!.HandleAsync(context)));
        fake = new FakeX(app, baseUrl, clock ?? TimeProvider.System, redirectUris);
        return fake;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>An access token for the fake user as a completed consent would grant it, without the browser round.</summary>
    public string GrantAccessToken(string scope = "tweet.read tweet.write users.read media.write offline.access")
    {
        lock (_gate)
        {
            return Issue(Guid.NewGuid().ToString("N"), scope).Access;
        }
    }

    /// <summary>Every access token issued so far expires: the next API call with one answers 401; a refresh still works.</summary>
    public void ExpireAccessTokens()
    {
        lock (_gate)
        {
            foreach (var (token, access) in _accessTokens.ToList())
            {
                _accessTokens[token] = access with { ExpiresAt = _clock.GetUtcNow().AddSeconds(-1) };
            }
        }
    }

    /// <summary>The user revokes the app: its access tokens answer 401, its refresh tokens are refused.</summary>
    public void RevokeGrants()
    {
        lock (_gate)
        {
            foreach (var access in _accessTokens.Values)
            {
                _revokedGrants.Add(access.GrantId);
            }

            foreach (string grant in _refreshTokens.Values)
            {
                _revokedGrants.Add(grant);
            }
        }
    }

    /// <summary>The next <paramref name="count"/> creates answer 429 with <c>x-rate-limit-reset</c> = <paramref name="reset"/>.</summary>
    public void RateLimitCreates(int count, DateTimeOffset reset)
    {
        lock (_gate)
        {
            _rateLimitedCreates = count;
            _rateLimitReset = reset;
        }
    }

    /// <summary>The next create makes its post, then the connection is aborted before the answer.</summary>
    public void LoseNextCreateAnswer()
    {
        lock (_gate)
        {
            _lostCreateAnswers++;
        }
    }

    /// <summary>The posts deleted through <c>DELETE /2/tweets/{id}</c>, in order.</summary>
    public IReadOnlyList<FakeXPost> Deleted
    {
        get
        {
            lock (_gate)
            {
                return [.. _deleted];
            }
        }
    }

    /// <summary>
    /// The next deletions answer <paramref name="status"/> each (a problem; a 429 with <c>x-rate-limit-reset</c> =
    /// <paramref name="reset"/>) and delete nothing.
    /// </summary>
    public void FailNextDeletes(int count, int status, DateTimeOffset? reset = null)
    {
        lock (_gate)
        {
            for (int i = 0; i < count; i++)
            {
                _deleteFailures.Enqueue(status);
            }

            _rateLimitReset = reset ?? _rateLimitReset;
        }
    }

    /// <summary>Adds a post as if made elsewhere (the X app), at <paramref name="createdAt"/>.</summary>
    public FakeXPost AddPost(string text, DateTimeOffset createdAt, int media = 0)
    {
        lock (_gate)
        {
            var post = new FakeXPost(NextId(), UserId, text, [.. Enumerable.Range(0, media).Select(_ => new FakeXMedia(NextId(), [1], "image/png", null, UserId))], createdAt);
            _posts.Add(post);
            return post;
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        _requests.Enqueue(new FakeXRequest(request.Method, request.Path.Value ?? "", request.Headers.Authorization.ToString()));
        string path = request.Path.Value ?? "";
        IResult result = (request.Method, path) switch
        {
            ("GET", "/i/oauth2/authorize") => Authorize(request),
            ("POST", "/2/oauth2/token") => await TokenAsync(request),
            ("GET", "/2/users/me") => Authenticated(request, out var token) is { } refused ? refused : Me(),
            ("POST", "/2/media/upload") => Authenticated(request, out var token) is { } refused ? refused : await UploadAsync(request, token!),
            ("GET", "/2/media/upload") => Authenticated(request, out var token) is { } refused ? refused : Status(request, token!),
            ("POST", "/2/media/metadata") => Authenticated(request, out var token) is { } refused ? refused : await MetadataAsync(request, token!),
            ("POST", "/2/tweets") => Authenticated(request, out var token) is { } refused ? refused : await CreateAsync(context, token!),
            ("DELETE", _) when Tweet().Match(path) is { Success: true } match =>
                Authenticated(request, out var token) is { } refused ? refused : Delete(context, token!, match.Groups[1].Value),
            ("GET", _) when UserTweets().Match(path) is { Success: true } match =>
                Authenticated(request, out _) is { } refused ? refused : Timeline(request, match.Groups[1].Value),
            _ => Problem(404, "Not Found Error", "Sorry, that page does not exist.", "https://api.twitter.com/2/problems/resource-not-found"),
        };
        if (context.RequestAborted.IsCancellationRequested || result is Aborted)
        {
            return;
        }

        await result.ExecuteAsync(context);
    }

    // ---- OAuth 2.0 ----

    private IResult Authorize(HttpRequest request)
    {
        var q = request.Query;
        string? redirect = q["redirect_uri"];
        // X shows its own error page, never redirects, when the client or the callback is wrong.
        if (q["client_id"] != ClientId)
        {
            return Results.Text("Something went wrong: the client_id is not that of a registered app.", statusCode: 400);
        }

        if (redirect is null || !Uri.TryCreate(redirect, UriKind.Absolute, out var redirectUri) || redirectUri.Scheme is not ("http" or "https")
            || (RedirectUris is not null && !RedirectUris.Contains(redirect)))
        {
            return Results.Text("Something went wrong: the redirect_uri is not one of the app's callback URLs.", statusCode: 400);
        }

        string? scope = q["scope"];
        string? state = q["state"];
        string? challenge = q["code_challenge"];
        if (q["response_type"] != "code" || string.IsNullOrEmpty(state) || string.IsNullOrEmpty(challenge) || q["code_challenge_method"] != "S256"
            || string.IsNullOrWhiteSpace(scope) || scope.Split(' ').Any(s => !KnownScopes.Contains(s)))
        {
            return Results.Text("Something went wrong: response_type=code, state, scope and an S256 code_challenge are required.", statusCode: 400);
        }

        string code = Token();
        lock (_gate)
        {
            _codes[code] = new AuthorizationCode(redirect, challenge, scope, _clock.GetUtcNow().AddSeconds(30));
        }

        // Consent given at once.
        string separator = redirect.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        return Results.Redirect($"{redirect}{separator}state={Uri.EscapeDataString(state)}&code={Uri.EscapeDataString(code)}");
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        // A confidential client must send Basic client_id:client_secret.
        if (!AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var auth) || auth.Scheme != "Basic" || auth.Parameter is null
            || Decode(auth.Parameter) != $"{ClientId}:{ClientSecret}")
        {
            return OAuthError(401, "unauthorized_client", "Missing valid authorization header");
        }

        if (!request.HasFormContentType)
        {
            return OAuthError(400, "invalid_request", "Missing required parameter [grant_type].");
        }

        var form = await request.ReadFormAsync();
        lock (_gate)
        {
            switch ((string?)form["grant_type"])
            {
                case "authorization_code":
                {
                    string code = form["code"].ToString();
                    if (!_codes.Remove(code, out var issued) || issued.ExpiresAt < _clock.GetUtcNow() || issued.RedirectUri != form["redirect_uri"]
                        || Challenge(form["code_verifier"].ToString()) != issued.Challenge)
                    {
                        return OAuthError(400, "invalid_request", "Value passed for the authorization code was invalid.");
                    }

                    var (access, refresh) = Issue(Guid.NewGuid().ToString("N"), issued.Scope);
                    return Tokens(access, refresh, issued.Scope);
                }

                case "refresh_token":
                {
                    string old = form["refresh_token"].ToString();
                    if (!_refreshTokens.Remove(old, out string? grant) || _revokedGrants.Contains(grant))
                    {
                        return OAuthError(400, "invalid_request", "Value passed for the token was invalid.");
                    }

                    string scope = _accessTokens.Values.FirstOrDefault(a => a.GrantId == grant)?.Scope ?? "tweet.read tweet.write users.read media.write offline.access";
                    var (access, refresh) = Issue(grant, scope);
                    return Tokens(access, refresh, scope);
                }

                default:
                    return OAuthError(400, "invalid_request", "Missing required parameter [grant_type].");
            }
        }
    }

    // Under _gate.
    private (string Access, string? Refresh) Issue(string grant, string scope)
    {
        string access = Token();
        _accessTokens[access] = new AccessToken(grant, UserId, scope, _clock.GetUtcNow() + AccessTokenLifetime);
        string? refresh = null;
        if (scope.Split(' ').Contains("offline.access"))
        {
            refresh = Token();
            _refreshTokens[refresh] = grant;
        }

        return (access, refresh);
    }

    private static IResult Tokens(string access, string? refresh, string scope)
    {
        var body = new JsonObject
        {
            ["token_type"] = "bearer",
            ["expires_in"] = (int)AccessTokenLifetime.TotalSeconds,
            ["access_token"] = access,
            ["scope"] = scope,
        };
        if (refresh is not null)
        {
            body["refresh_token"] = refresh;
        }

        return Results.Json(body);
    }

    private static IResult OAuthError(int status, string error, string description)
        => Results.Json(new JsonObject { ["error"] = error, ["error_description"] = description }, statusCode: status);

    private static string Challenge(string verifier)
        => Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Token() => Base64Url(RandomNumberGenerator.GetBytes(24));

    private static string? Decode(string basic)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(basic));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    // ---- API ----

    private IResult? Authenticated(HttpRequest request, out AccessToken? token)
    {
        token = null;
        if (AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var auth) && auth.Scheme == "Bearer" && auth.Parameter is { } value)
        {
            lock (_gate)
            {
                if (_accessTokens.TryGetValue(value, out var access) && access.ExpiresAt > _clock.GetUtcNow() && !_revokedGrants.Contains(access.GrantId))
                {
                    token = access;
                    return null;
                }
            }
        }

        return Problem(401, "Unauthorized", "Unauthorized", "about:blank");
    }

    private static IResult Me()
        => Results.Json(new JsonObject { ["data"] = new JsonObject { ["id"] = UserId, ["name"] = Name, ["username"] = Username } });

    private async Task<IResult> UploadAsync(HttpRequest request, AccessToken token)
    {
        if (!token.Scope.Split(' ').Contains("media.write"))
        {
            return Problem(403, "Forbidden", "Forbidden", "about:blank");
        }

        if (!request.HasFormContentType)
        {
            return InvalidRequest("media", "A multipart/form-data body with media is required.");
        }

        var form = await request.ReadFormAsync();
        if (form["command"] is { Count: > 0 } command)
        {
            return await ChunkedAsync(command.ToString(), form, token);
        }

        var file = form.Files.GetFile("media");
        string category = form["media_category"].ToString();
        if (file is null || file.Length == 0)
        {
            return InvalidRequest("media", "The media parameter is required.");
        }

        if (category != "tweet_image")
        {
            return InvalidRequest("media_category", $"The value of media_category must be one the simple upload takes; got [{category}].");
        }

        if (file.Length > 5 * 1024 * 1024)
        {
            return InvalidRequest("media", "File size exceeds 5242880 bytes.");
        }

        using var bytes = new MemoryStream();
        await file.CopyToAsync(bytes);
        string type = form["media_type"] is { Count: > 0 } t ? t.ToString() : file.ContentType;
        lock (_gate)
        {
            string id = NextId();
            _media[id] = new FakeXMedia(id, bytes.ToArray(), type, null, token.UserId);
            return Results.Json(new JsonObject
            {
                ["data"] = new JsonObject { ["id"] = id, ["media_key"] = $"3_{id}", ["size"] = bytes.Length, ["expires_after_secs"] = 86400 },
            });
        }
    }

    // The chunked upload: INIT declares the size, type and category; APPEND sends segment_index 0…999 (at most 5 MB
    // each, an empty 2xx answer); FINALIZE checks the bytes add up and answers processing_info while processing runs.
    private async Task<IResult> ChunkedAsync(string command, IFormCollection form, AccessToken token)
    {
        switch (command)
        {
            case "INIT":
            {
                string type = form["media_type"].ToString();
                string category = form["media_category"].ToString();
                if (!long.TryParse(form["total_bytes"], NumberStyles.None, CultureInfo.InvariantCulture, out long total) || total <= 0)
                {
                    return InvalidRequest("total_bytes", "total_bytes is required and must be a positive number.");
                }

                if (type != "video/mp4" || category is not ("tweet_video" or "amplify_video"))
                {
                    return InvalidRequest("media_category", $"The media_type [{type}] and media_category [{category}] are not a video for a post.");
                }

                if (total > 512L * 1024 * 1024)
                {
                    return InvalidRequest("total_bytes", "File size exceeds 536870912 bytes.");
                }

                lock (_gate)
                {
                    string id = NextId();
                    _videos[id] = new VideoUpload(token.UserId, total, type);
                    return Results.Json(new JsonObject
                    {
                        ["data"] = new JsonObject { ["id"] = id, ["media_key"] = $"7_{id}", ["expires_after_secs"] = 86400 },
                    });
                }
            }

            case "APPEND":
            {
                var file = form.Files.GetFile("media");
                if (file is null || file.Length == 0 || file.Length > 5 * 1024 * 1024)
                {
                    return InvalidRequest("media", "A media chunk of at most 5 MB is required.");
                }

                using var bytes = new MemoryStream();
                await file.CopyToAsync(bytes);
                lock (_gate)
                {
                    if (!_videos.TryGetValue(form["media_id"].ToString(), out var video) || video.OwnerId != token.UserId || video.Finalized)
                    {
                        return InvalidRequest("media_id", "The media id is not an upload in progress.");
                    }

                    if (!int.TryParse(form["segment_index"], NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index > 999)
                    {
                        return InvalidRequest("segment_index", "segment_index must be between 0 and 999.");
                    }

                    video.Segments[index] = bytes.ToArray();
                    return Results.NoContent();
                }
            }

            case "FINALIZE":
                lock (_gate)
                {
                    string id = form["media_id"].ToString();
                    if (!_videos.TryGetValue(id, out var video) || video.OwnerId != token.UserId || video.Finalized)
                    {
                        return InvalidRequest("media_id", "The media id is not an upload in progress.");
                    }

                    byte[] all = [.. video.Segments.Values.SelectMany(b => b)];
                    if (!video.Segments.Keys.SequenceEqual(Enumerable.Range(0, video.Segments.Count)) || all.Length != video.TotalBytes)
                    {
                        return InvalidRequest("media_id", $"File size mismatch: received {all.Length} of {video.TotalBytes} bytes.");
                    }

                    video.Finalized = true;
                    video.PollsLeft = VideoProcessingPolls;
                    video.Failure = _videoFailure;
                    _videoFailure = null;
                    _media[id] = new FakeXMedia(id, all, video.Type, null, token.UserId);
                    return Results.Json(new JsonObject { ["data"] = VideoJson(id, video, finalizing: true) });
                }

            default:
                return InvalidRequest("command", $"The command [{command}] is not one of INIT, APPEND, FINALIZE.");
        }
    }

    private IResult Status(HttpRequest request, AccessToken token)
    {
        if (request.Query["command"] != "STATUS")
        {
            return InvalidRequest("command", "command=STATUS is required.");
        }

        lock (_gate)
        {
            string id = request.Query["media_id"].ToString();
            if (!_videos.TryGetValue(id, out var video) || video.OwnerId != token.UserId || !video.Finalized)
            {
                return InvalidRequest("media_id", "The media id is not a finalized upload.");
            }

            video.Polls++;
            if (video.PollsLeft > 0)
            {
                video.PollsLeft--;
            }

            return Results.Json(new JsonObject { ["data"] = VideoJson(id, video, finalizing: false) });
        }
    }

    // Under _gate. No processing_info at FINALIZE when there is nothing to wait for: the media is ready.
    private JsonObject VideoJson(string id, VideoUpload video, bool finalizing)
    {
        var json = new JsonObject { ["id"] = id, ["media_key"] = $"7_{id}", ["size"] = video.TotalBytes, ["expires_after_secs"] = 86400 };
        if (finalizing && video.PollsLeft == 0 && video.Failure is null)
        {
            return json;
        }

        string state = finalizing && video.PollsLeft > 0 ? "pending" : video.State;
        var info = new JsonObject { ["state"] = state };
        if (state is "pending" or "in_progress")
        {
            info["check_after_secs"] = CheckAfterSecs;
            info["progress_percent"] = (int)(100L * video.Polls / (video.Polls + (long)video.PollsLeft + 1));
        }
        else if (state == "failed")
        {
            info["error"] = new JsonObject { ["code"] = 1, ["name"] = "InvalidMedia", ["message"] = video.Failure };
        }

        json["processing_info"] = info;
        return json;
    }

    private async Task<IResult> MetadataAsync(HttpRequest request, AccessToken token)
    {
        var body = await ReadJsonAsync(request);
        string? id = body?["id"]?.GetValue<string>();
        string? alt = body?["metadata"]?["alt_text"]?["text"]?.GetValue<string>();
        lock (_gate)
        {
            if (id is null || !_media.TryGetValue(id, out var media) || media.OwnerId != token.UserId)
            {
                return InvalidRequest("id", "The media id is not one of the user's uploads.");
            }

            if (alt is { Length: > 1000 })
            {
                return InvalidRequest("metadata.alt_text.text", "Alt text must be at most 1000 characters.");
            }

            _media[id] = media with { AltText = alt };
            return Results.Json(new JsonObject
            {
                ["data"] = new JsonObject { ["id"] = id, ["associated_metadata"] = new JsonObject { ["alt_text"] = new JsonObject { ["text"] = alt } } },
            });
        }
    }

    private async Task<IResult> CreateAsync(HttpContext context, AccessToken token)
    {
        var body = await ReadJsonAsync(context.Request);
        string? text = body?["text"]?.GetValue<string>();
        var ids = body?["media"]?["media_ids"]?.AsArray().Select(n => n?.GetValue<string>() ?? "").ToList() ?? [];
        bool lose;
        FakeXPost post;
        lock (_gate)
        {
            if (_rateLimitedCreates > 0)
            {
                _rateLimitedCreates--;
                var headers = context.Response.Headers;
                headers["x-rate-limit-limit"] = "100";
                headers["x-rate-limit-remaining"] = "0";
                headers["x-rate-limit-reset"] = _rateLimitReset.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                return Problem(429, "Too Many Requests", "Too Many Requests", "about:blank");
            }

            if (string.IsNullOrEmpty(text) && ids.Count == 0)
            {
                return InvalidRequest("text", "The text or media of a post is required.");
            }

            if (ids.Count > 4 || ids.Any(id => !_media.TryGetValue(id, out var m) || m.OwnerId != token.UserId
                                             || (_videos.TryGetValue(id, out var video) && (video.State != "succeeded" || ids.Count > 1))))
            {
                return InvalidRequest("media.media_ids", "Your media IDs are invalid.");
            }

            if (text is not null && _posts.Any(p => p.AuthorId == token.UserId && p.Text == text))
            {
                return Problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.", "about:blank");
            }

            post = new FakeXPost(NextId(), token.UserId, text ?? "", [.. ids.Select(id => _media[id])], _clock.GetUtcNow());
            _posts.Add(post);
            lose = _lostCreateAnswers > 0;
            if (lose)
            {
                _lostCreateAnswers--;
            }
        }

        if (lose)
        {
            context.Abort();
            return new Aborted();
        }

        return Results.Json(new JsonObject { ["data"] = new JsonObject { ["id"] = post.Id, ["text"] = Rendered(post) } }, statusCode: 201);
    }

    // DELETE /2/tweets/:id: only the author may delete a post (403 otherwise).
    private IResult Delete(HttpContext context, AccessToken token, string id)
    {
        lock (_gate)
        {
            if (_deleteFailures.TryDequeue(out int status))
            {
                if (status == 429)
                {
                    context.Response.Headers["x-rate-limit-reset"] = _rateLimitReset.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
                }

                return Problem(status, status == 429 ? "Too Many Requests" : "Error", $"Scripted failure {status}.", "about:blank");
            }

            var post = _posts.Find(p => p.Id == id);
            if (post is null)
            {
                return Problem(404, "Not Found Error", $"Could not find tweet with id: [{id}].", "https://api.twitter.com/2/problems/resource-not-found");
            }

            if (post.AuthorId != token.UserId)
            {
                return Problem(403, "Forbidden", "You are not allowed to delete this Tweet.", "about:blank");
            }

            _posts.Remove(post);
            _deleted.Add(post);
        }

        return Results.Json(new JsonObject { ["data"] = new JsonObject { ["deleted"] = true } });
    }

    private IResult Timeline(HttpRequest request, string userId)
    {
        var q = request.Query;
        int max = 10;
        if (q["max_results"] is { Count: > 0 } m && (!int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out max) || max is < 5 or > 100))
        {
            return InvalidRequest("max_results", $"The `max_results` query parameter value [{m}] is not between 5 and 100");
        }

        DateTimeOffset? since = null;
        if (q["start_time"] is { Count: > 0 } s)
        {
            if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            {
                return InvalidRequest("start_time", $"Invalid 'start_time':'{s}'.");
            }

            since = at;
        }

        var fields = q["tweet.fields"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        List<FakeXPost> posts;
        lock (_gate)
        {
            posts = [.. _posts.Where(p => p.AuthorId == userId && (since is null || p.CreatedAt >= since)).OrderByDescending(p => p.CreatedAt).ThenByDescending(p => p.Id, StringComparer.Ordinal)];
        }

        int skip = q["pagination_token"] is { Count: > 0 } token && int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out int offset) ? offset : 0;
        var page = posts.Skip(skip).Take(max).ToList();
        var meta = new JsonObject { ["result_count"] = page.Count };
        if (page.Count > 0)
        {
            meta["newest_id"] = page[0].Id;
            meta["oldest_id"] = page[^1].Id;
        }

        if (skip + page.Count < posts.Count)
        {
            meta["next_token"] = (skip + page.Count).ToString(CultureInfo.InvariantCulture);
        }

        var answer = new JsonObject { ["meta"] = meta };
        if (page.Count > 0)
        {
            answer["data"] = new JsonArray([.. page.Select(p =>
            {
                var json = new JsonObject { ["id"] = p.Id, ["text"] = Rendered(p), ["edit_history_tweet_ids"] = new JsonArray(p.Id) };
                if (fields.Contains("created_at"))
                {
                    json["created_at"] = p.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
                }

                if (fields.Contains("attachments") && p.Media.Count > 0)
                {
                    json["attachments"] = new JsonObject { ["media_keys"] = new JsonArray([.. p.Media.Select(m => (JsonNode)$"3_{m.Id}")]) };
                }

                return (JsonNode)json;
            })]);
        }

        return Results.Json(answer);
    }

    /// <summary>A post's text as X's API returns it: links as t.co, a media link appended, &amp; &lt; &gt; escaped.</summary>
    public static string Rendered(FakeXPost post)
    {
        string text = Links().Replace(post.Text, link => $"https://t.co/{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(link.Value)))[..10]}");
        text = text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
        return post.Media.Count > 0 ? $"{text} https://t.co/{post.Id[^10..]}" : text;
    }

    private static async Task<JsonNode?> ReadJsonAsync(HttpRequest request)
    {
        try
        {
            return await JsonNode.ParseAsync(request.Body);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static IResult Problem(int status, string title, string detail, string type)
        => Results.Json(new JsonObject { ["title"] = title, ["detail"] = detail, ["type"] = type, ["status"] = status }, statusCode: status,
            contentType: "application/problem+json");

    private static IResult InvalidRequest(string parameter, string message)
        => Results.Json(new JsonObject
        {
            ["errors"] = new JsonArray(new JsonObject { ["parameters"] = new JsonObject { [parameter] = new JsonArray() }, ["message"] = message }),
            ["title"] = "Invalid Request",
            ["detail"] = "One or more parameters to your request was invalid.",
            ["type"] = "https://api.twitter.com/2/problems/invalid-request",
        }, statusCode: 400);

    // Under _gate.
    private string NextId() => (++_nextId).ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"https?://\S+")]
    private static partial Regex Links();

    [GeneratedRegex(@"^/2/tweets/([0-9]+)$")]
    private static partial Regex Tweet();

    [GeneratedRegex(@"^/2/users/([0-9]+)/tweets$")]
    private static partial Regex UserTweets();

    private sealed class Aborted : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => Task.CompletedTask;
    }
}

/// <summary>A post as created, with its media in order.</summary>
public sealed record FakeXPost(string Id, string AuthorId, string Text, IReadOnlyList<FakeXMedia> Media, DateTimeOffset CreatedAt);

/// <summary>An uploaded image or video: its bytes, type and alt text.</summary>
public sealed record FakeXMedia(string Id, byte[] Bytes, string ContentType, string? AltText, string OwnerId);

/// <summary>One request as the fake received it.</summary>
public sealed record FakeXRequest(string Method, string Path, string Authorization);
