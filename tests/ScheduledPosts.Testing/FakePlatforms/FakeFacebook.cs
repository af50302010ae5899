using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ScheduledPosts.Testing.FakePlatforms;

/// <summary>
/// Facebook's Login dialog and the Graph API, as far as a Page connector and its OAuth flow use them, on a real HTTP
/// server on a loopback address (the end-to-end tests point the real processes at it). Built from Meta's pages
/// (services/publisher/Connectors/Facebook/README.md lists them); every path starts with a Graph version (<c>/v26.0/</c>).
/// <list type="bullet">
/// <item><c>GET /{v}/dialog/oauth</c>: client_id, redirect_uri, state, response_type=code, scope (comma- or space-separated),
/// an optional code_challenge (S256 only); consent is simulated with a 302 to <c>redirect_uri?code=…&amp;state=…</c>.</item>
/// <item><c>GET|POST /{v}/oauth/access_token</c>: the code (client_id, client_secret, the same redirect_uri, and the
/// code_verifier when a challenge was sent) → a short-lived user token; <c>grant_type=fb_exchange_token</c> → a
/// long-lived one. There is no refresh_token grant. Errors are OAuthException code 100 (bad code) or 1 (bad secret).</item>
/// <item><c>GET /{v}/me/accounts</c> with a user token: the Pages, each with its Page access token and tasks, paged by cursors.</item>
/// <item><c>POST /{v}/{page-id}/photos</c> (multipart <c>source</c> or <c>url</c>; <c>published=false</c> keeps it off the feed)
/// → <c>{"id"}</c>; <c>POST /{v}/{page-id}/feed</c> (message, link, <c>attached_media[i]={"media_fbid"}</c> of
/// unpublished photos of the Page, each once) → <c>{"id": "{page-id}_{n}"}</c>; both want the Page's token and pages_manage_posts.</item>
/// <item><c>POST /{v}/{page-id}/videos</c> (multipart <c>source</c> of 1 KB to 1 GB, <c>description</c>, <c>title</c>) →
/// <c>{"id"}</c> of the video, published on the Page's feed with the description as its message; its
/// <c>status.video_status</c> reads <c>processing</c> for <see cref="VideoProcessingPolls"/> reads, then <c>ready</c>
/// (or <c>error</c>, with <c>processing_phase.errors</c>).</item>
/// <item><c>GET /{v}/{page-id}/feed</c> (fields, since, limit, after; newest first, with attachments and paging cursors),
/// <c>GET /{v}/{page-id}/videos</c> (fields, limit, after; newest first) and <c>GET /{v}/{id}</c> of a post (id, message,
/// permalink_url) or a video (id, description, created_time, permalink_url, status).</item>
/// <item><c>DELETE /{v}/{id}</c> of a post or video, with its Page's token and pages_manage_posts → <c>{"success": true}</c>;
/// an id it does not have is #100/33 ("Unsupported delete request. Object with ID … does not exist").</item>
/// </list>
/// Tokens come as <c>access_token</c> (query or form) or <c>Authorization: Bearer</c>. Errors are Graph's
/// <c>{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}</c> with status 400 (403 for a missing permission).
/// Hooks: <see cref="ExpireTokens"/>, <see cref="RevokeGrant"/>, <see cref="RateLimitNextCreates"/>, <see cref="LoseNextCreateAnswer"/>,
/// <see cref="RejectNextCreate"/>, <see cref="FailNextVideoProcessing"/>; <see cref="Posts"/> shows what was posted. Thread-safe.
/// </summary>
public sealed partial class FakeFacebook : IAsyncDisposable
{
    public const string ClientId = "1234567890123";
    public const string ClientSecret = "fake-facebook-app-secret";
    public const string UserId = "10000000000001";
    public const string PageId = "102030405060708";
    public const string PageName = "Fake Bakery";
    public const string OtherPageId = "908070605040302";
    public const string OtherPageName = "Fake Bakery Outlet";

    /// <summary>What <c>me/accounts</c> answers a user who may post, per Meta's Page tasks.</summary>
    public static readonly string[] AllTasks = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"];

    private static readonly string[] DefaultScopes = ["pages_show_list", "pages_read_engagement", "pages_manage_posts"];

    private readonly object _gate = new();
    private readonly WebApplication _app;
    private readonly Dictionary<string, Token> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Code> _codes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Photo> _photos = new(StringComparer.Ordinal);
    private readonly List<FakeFacebookPost> _posts = [];
    private readonly List<FakePage> _pages = [new(PageId, PageName, AllTasks), new(OtherPageId, OtherPageName, ["ANALYZE"])];
    private readonly Queue<(int Code, int? Subcode, string Message)> _rejections = new();
    private readonly Queue<(HttpStatusCode Status, int Code)> _deleteFailures = new();
    private readonly List<string> _deleted = [];
    private int _counter;
    private int _rateLimited;
    private int _rateLimitMinutes = 7;
    private int _loseNext;
    private readonly Dictionary<string, Video> _videos = new(StringComparer.Ordinal);
    private string? _videoFailure;

    // A published video: its post on the feed, and how many status reads remain before processing ends.
    private sealed class Video(FakeFacebookVideo content, string pageId, string? description, DateTimeOffset createdAt)
    {
        public FakeFacebookVideo Content { get; } = content;
        public string PageId { get; } = pageId;
        public string? Description { get; } = description;
        public DateTimeOffset CreatedAt { get; } = createdAt;
        public int PollsLeft { get; set; }
        public string? Failure { get; set; }

        public string Status => PollsLeft > 0 ? "processing" : Failure is null ? "ready" : "error";
    }

    private FakeFacebook(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    private sealed record Token(string Value, string? PageId, IReadOnlySet<string> Scopes, bool LongLived)
    {
        public string? Invalid { get; set; } // "expired" or "revoked"
    }

    private sealed record Code(string RedirectUri, string? Challenge, IReadOnlySet<string> Scopes)
    {
        public bool Used { get; set; }
    }

    private sealed record Photo(string Id, string PageId, FakeFacebookPhoto Content)
    {
        public bool Attached { get; set; }
    }

    /// <summary>A Page the fake user manages, with the tasks they may perform on it.</summary>
    public sealed record FakePage(string Id, string Name, IReadOnlyList<string> Tasks);

    /// <summary>The server's base URL (<c>http://127.0.0.x:port/</c>); the Graph API and the dialog live under <c>{BaseUrl}v26.0/</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>The redirect URIs registered as Valid OAuth Redirect URIs; when empty, any absolute http(s) URI is taken.</summary>
    public List<string> RedirectUris { get; } = [];

    /// <summary>Every Graph request, as <c>METHOD /path</c>, in order.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    private readonly List<string> _requests = [];

    /// <summary>The posts made on the Pages' feeds, in order.</summary>
    public IReadOnlyList<FakeFacebookPost> Posts
    {
        get
        {
            lock (_gate)
            {
                return [.. _posts];
            }
        }
    }

    /// <summary>How many status reads a new video answers <c>processing</c> before it is <c>ready</c> (or <c>error</c>).</summary>
    public int VideoProcessingPolls { get; set; }

    /// <summary>How many reads of a video's status arrived.</summary>
    public int VideoStatusRequests { get; private set; }

    /// <summary>The next video's processing ends in <c>error</c> with <paramref name="message"/> in <c>processing_phase.errors</c>.</summary>
    public void FailNextVideoProcessing(string message)
    {
        lock (_gate)
        {
            _videoFailure = message;
        }
    }

    /// <summary>How many short-lived user tokens were exchanged for long-lived ones.</summary>
    public int LongLivedExchanges { get; private set; }

    public static async Task<FakeFacebook> StartAsync(IPAddress? address = null)
    {
        FakeFacebook? fake = null;
        var (app, baseUrl) = await LoopbackHost.StartAsync(address ?? IPAddress.Loopback, app => Map(app, () => fake!));
        fake = new FakeFacebook(app, new Uri(baseUrl.ToString().TrimEnd('/') + "/"));
        return fake;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    /// <summary>The Page's access token, as <c>me/accounts</c> would hand it out (with every permission the connector asks for).</summary>
    public string IssuePageToken(string pageId = PageId)
    {
        lock (_gate)
        {
            return NewToken("EAAPage", pageId, new HashSet<string>(DefaultScopes), longLived: true).Value;
        }
    }

    /// <summary>A user token as the code exchange would give it, with <paramref name="scopes"/> granted.</summary>
    public string IssueUserToken(params string[] scopes)
    {
        lock (_gate)
        {
            return NewToken("EAAUser", null, new HashSet<string>(scopes.Length > 0 ? scopes : DefaultScopes), longLived: false).Value;
        }
    }

    /// <summary>The credentials JSON a Page account holds (<c>accessToken</c>, <c>pageId</c>).</summary>
    public string Credentials(string pageId = PageId)
        => new JsonObject { ["accessToken"] = IssuePageToken(pageId), ["pageId"] = pageId }.ToJsonString();

    /// <summary>Replaces the Pages the user manages.</summary>
    public void SetPages(params FakePage[] pages)
    {
        lock (_gate)
        {
            _pages.Clear();
            _pages.AddRange(pages);
        }
    }

    /// <summary>Every token given out so far expires (a password change, a session ended): 190, subcode 463.</summary>
    public void ExpireTokens() => Invalidate("expired");

    /// <summary>The user removes the app: every token is refused (190, subcode 458) and cannot be exchanged.</summary>
    public void RevokeGrant() => Invalidate("revoked");

    /// <summary>The next <paramref name="count"/> creates (photo uploads and feed posts) answer #80001 with X-Business-Use-Case-Usage.</summary>
    public void RateLimitNextCreates(int count, int minutes = 7)
    {
        lock (_gate)
        {
            _rateLimited = count;
            _rateLimitMinutes = minutes;
        }
    }

    /// <summary>The next feed post (or video) is created, then the connection is aborted before its answer.</summary>
    public void LoseNextCreateAnswer() => Interlocked.Increment(ref _loseNext);

    /// <summary>The ids deleted with <c>DELETE /{v}/{id}</c>, in order.</summary>
    public IReadOnlyList<string> Deleted
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
    /// The next <paramref name="count"/> deletions answer Graph error <paramref name="code"/> and delete nothing; 80001 comes with
    /// X-Business-Use-Case-Usage (7 minutes to regain access, or what <see cref="RateLimitNextCreates"/> last said).
    /// </summary>
    public void FailNextDeletes(int count, int code, HttpStatusCode status = HttpStatusCode.BadRequest)
    {
        lock (_gate)
        {
            for (int i = 0; i < count; i++)
            {
                _deleteFailures.Enqueue((status, code));
            }
        }
    }

    /// <summary>The next feed post (or video) is refused with this Graph error (e.g. 506 duplicate, 368 blocked).</summary>
    public void RejectNextCreate(int code, string message, int? subcode = null)
    {
        lock (_gate)
        {
            _rejections.Enqueue((code, subcode, message));
        }
    }

    private void Invalidate(string how)
    {
        lock (_gate)
        {
            foreach (var token in _tokens.Values.Where(t => t.Invalid is null))
            {
                token.Invalid = how;
            }
        }
    }

    private Token NewToken(string prefix, string? pageId, IReadOnlySet<string> scopes, bool longLived)
    {
        var token = new Token($"{prefix}{++_counter}{Convert.ToHexString(RandomNumberGenerator.GetBytes(8))}", pageId, scopes, longLived);
        _tokens[token.Value] = token;
        return token;
    }

    private static void Map(WebApplication app, Func<FakeFacebook> fake)
    {
        app.MapGet("/{version}/dialog/oauth", (HttpContext context, string version) => fake().Authorize(context, version));
        app.MapMethods("/{version}/oauth/access_token", ["GET", "POST"], async (HttpContext context, string version) => fake().AccessToken(context, version, await Parameters(context)));
        app.MapGet("/{version}/me/accounts", async (HttpContext context, string version) => fake().Accounts(context, version, await Parameters(context)));
        app.MapPost("/{version}/{pageId}/photos", async (HttpContext context, string version, string pageId) => fake().UploadPhoto(context, version, pageId, await context.Request.ReadFormAsync()));
        app.MapPost("/{version}/{pageId}/feed", async (HttpContext context, string version, string pageId) => fake().CreatePost(context, version, pageId, await Parameters(context)));
        app.MapGet("/{version}/{pageId}/feed", async (HttpContext context, string version, string pageId) => fake().Feed(context, version, pageId, await Parameters(context)));
        app.MapPost("/{version}/{pageId}/videos", async (HttpContext context, string version, string pageId) => fake().UploadVideo(context, version, pageId, await context.Request.ReadFormAsync()));
        app.MapGet("/{version}/{pageId}/videos", async (HttpContext context, string version, string pageId) => fake().Videos(context, version, pageId, await Parameters(context)));
        app.MapDelete("/{version}/{objectId}", async (HttpContext context, string version, string objectId) => fake().Delete(context, version, objectId, await Parameters(context)));
        app.MapGet("/{version}/{objectId}", async (HttpContext context, string version, string objectId) => fake().Object(context, version, objectId, await Parameters(context)));
    }

    private static async Task<Dictionary<string, string>> Parameters(HttpContext context)
    {
        var parameters = context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        if (context.Request.HasFormContentType)
        {
            foreach (var (key, value) in await context.Request.ReadFormAsync())
            {
                parameters[key] = value.ToString();
            }
        }

        return parameters;
    }

    private IResult Authorize(HttpContext context, string version)
    {
        var q = context.Request.Query;
        if (!Version(version) || q["client_id"] != ClientId)
        {
            return Error(HttpStatusCode.BadRequest, 101, "Error validating application. Invalid application ID.");
        }

        string redirect = q["redirect_uri"].ToString();
        if (!Uri.TryCreate(redirect, UriKind.Absolute, out var redirectUri) || redirectUri.Scheme is not ("http" or "https")
            || (RedirectUris.Count > 0 && !RedirectUris.Contains(redirect)))
        {
            return Error(HttpStatusCode.BadRequest, 191, "URL Blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.");
        }

        // Errors after this point go back to the app, as the dialog does (error, error_reason, error_description).
        string state = q["state"].ToString();
        if (q["response_type"] is { Count: > 0 } responseType && responseType != "code")
        {
            return Results.Redirect(Append(redirect, ("error", "unsupported_response_type"), ("state", state)));
        }

        string? challenge = q["code_challenge"] is { Count: > 0 } c ? c.ToString() : null;
        if (challenge is not null && (q["code_challenge_method"] != "S256" || !Base64Url().IsMatch(challenge)))
        {
            return Results.Redirect(Append(redirect, ("error", "invalid_request"), ("error_description", "code_challenge_method must be S256"), ("state", state)));
        }

        if (state.Length == 0)
        {
            return Results.Redirect(Append(redirect, ("error", "invalid_request"), ("error_description", "state is required"), ("state", state)));
        }

        var scopes = q["scope"].ToString().Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        string code = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        lock (_gate)
        {
            _codes[code] = new Code(redirect, challenge, scopes);
        }

        return Results.Redirect(Append(redirect, ("code", code), ("state", state)));
    }

    private IResult AccessToken(HttpContext context, string version, Dictionary<string, string> p)
    {
        lock (_gate)
        {
            _requests.Add($"{context.Request.Method} {context.Request.Path}");
            if (!Version(version) || p.GetValueOrDefault("client_id") != ClientId)
            {
                return Error(HttpStatusCode.BadRequest, 101, "Error validating application. Invalid application ID.");
            }

            if (p.GetValueOrDefault("client_secret") != ClientSecret)
            {
                return Error(HttpStatusCode.BadRequest, 1, "Error validating client secret.");
            }

            if (p.GetValueOrDefault("grant_type") == "fb_exchange_token")
            {
                if (p.GetValueOrDefault("fb_exchange_token") is not { } shortLived || !_tokens.TryGetValue(shortLived, out var user) || user.PageId is not null)
                {
                    return Error(HttpStatusCode.BadRequest, 190, "Invalid OAuth access token - Cannot parse access token");
                }

                if (user.Invalid is { } invalid)
                {
                    return TokenError(invalid);
                }

                LongLivedExchanges++;
                return Results.Json(new { access_token = NewToken("EAAUserLong", null, user.Scopes, longLived: true).Value, token_type = "bearer", expires_in = 5_183_944 });
            }

            if (p.GetValueOrDefault("grant_type") is { } grant && grant != "authorization_code")
            {
                // Facebook has no refresh_token grant: user tokens are extended with fb_exchange_token, Page tokens do not expire.
                return Error(HttpStatusCode.BadRequest, 100, $"Unsupported grant_type: {grant}");
            }

            if (p.GetValueOrDefault("code") is not { } codeValue || !_codes.TryGetValue(codeValue, out var code))
            {
                return Error(HttpStatusCode.BadRequest, 100, "Invalid verification code format.", 36007);
            }

            if (code.Used)
            {
                return Error(HttpStatusCode.BadRequest, 100, "This authorization code has been used.", 36009);
            }

            if (p.GetValueOrDefault("redirect_uri") != code.RedirectUri)
            {
                return Error(HttpStatusCode.BadRequest, 100,
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request", 36008);
            }

            if (code.Challenge is not null && (p.GetValueOrDefault("code_verifier") is not { } verifier
                || Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))) != code.Challenge))
            {
                return Error(HttpStatusCode.BadRequest, 100, "Invalid code verifier.");
            }

            code.Used = true;
            return Results.Json(new { access_token = NewToken("EAAUser", null, code.Scopes, longLived: false).Value, token_type = "bearer", expires_in = 5_400 });
        }
    }

    private IResult Accounts(HttpContext context, string version, Dictionary<string, string> p)
    {
        lock (_gate)
        {
            if (Authenticate(context, version, p, out var user) is { } refused)
            {
                return refused;
            }

            if (user!.PageId is not null)
            {
                return Error(HttpStatusCode.BadRequest, 100, "(#100) Tried accessing nonexisting field (accounts) on node type (Page)");
            }

            // Without pages_show_list the edge lists no Page.
            var pages = user.Scopes.Contains("pages_show_list") ? _pages.ToList() : [];
            int offset = p.TryGetValue("after", out string? after) ? Cursor(after) : 0;
            int limit = p.TryGetValue("limit", out string? l) && int.TryParse(l, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 25;
            var slice = pages.Skip(offset).Take(limit).ToList();
            var data = new JsonArray();
            foreach (var page in slice)
            {
                data.Add(new JsonObject
                {
                    ["access_token"] = NewToken("EAAPage", page.Id, user.Scopes, longLived: user.LongLived).Value,
                    ["category"] = "Bakery",
                    ["name"] = page.Name,
                    ["id"] = page.Id,
                    ["tasks"] = new JsonArray([.. page.Tasks.Select(t => JsonValue.Create(t))]),
                });
            }

            return Results.Json(new JsonObject { ["data"] = data, ["paging"] = Paging(context, offset, slice.Count, offset + slice.Count < pages.Count) });
        }
    }

    private IResult UploadPhoto(HttpContext context, string version, string pageId, IFormCollection form)
    {
        var parameters = form.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal);
        byte[]? bytes = null;
        string? contentType = null;
        string? fileName = null;
        if (form.Files.GetFile("source") is { } file)
        {
            using var memory = new MemoryStream();
            file.CopyTo(memory);
            (bytes, contentType, fileName) = (memory.ToArray(), file.ContentType, file.FileName);
        }

        lock (_gate)
        {
            if ((Authenticate(context, version, parameters, out var token) ?? PageRefusal(token!, pageId)) is { } refused)
            {
                return refused;
            }

            if (RateLimit(context, pageId) is { } limited)
            {
                return limited;
            }

            if (bytes is null && parameters.GetValueOrDefault("url") is not { Length: > 0 })
            {
                return Error(HttpStatusCode.BadRequest, 324, "(#324) Requires upload file");
            }

            bool published = !string.Equals(parameters.GetValueOrDefault("published"), "false", StringComparison.OrdinalIgnoreCase);
            string id = (++_counter + 500_000_000_000).ToString(CultureInfo.InvariantCulture);
            var photo = new Photo(id, pageId, new FakeFacebookPhoto(id, bytes ?? [], contentType ?? "", fileName, parameters.GetValueOrDefault("url")));
            _photos[id] = photo;
            if (published)
            {
                photo.Attached = true;
                var post = AddPost(pageId, parameters.GetValueOrDefault("caption") ?? parameters.GetValueOrDefault("message"), null, [photo.Content]);
                return Results.Json(new { id, post_id = post.Id });
            }

            return Results.Json(new { id });
        }
    }

    // The non-resumable upload: the file as source (1 KB to 1 GB; Meta's error subcodes 1363022 and 1363023), published at
    // once with its description as the post's message.
    private IResult UploadVideo(HttpContext context, string version, string pageId, IFormCollection form)
    {
        var parameters = form.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal);
        var file = form.Files.GetFile("source");
        byte[]? bytes = null;
        if (file is not null)
        {
            using var memory = new MemoryStream();
            file.CopyTo(memory);
            bytes = memory.ToArray();
        }

        FakeFacebookVideo content;
        lock (_gate)
        {
            if ((Authenticate(context, version, parameters, out var token) ?? PageRefusal(token!, pageId)) is { } refused)
            {
                return refused;
            }

            if (RateLimit(context, pageId) is { } limited)
            {
                return limited;
            }

            if (_rejections.TryDequeue(out var rejection))
            {
                return Error(HttpStatusCode.BadRequest, rejection.Code, rejection.Message, rejection.Subcode);
            }

            if (bytes is null)
            {
                return Error(HttpStatusCode.BadRequest, 100, "(#100) Requires a video file (source) or file_url");
            }

            if (bytes.Length < 1024)
            {
                return Error(HttpStatusCode.BadRequest, 6000, "The video you tried to upload is too small. The minimum size for a video is 1 KB. Please try again with a larger file.", 1363022);
            }

            if (bytes.Length > 1024L * 1024 * 1024)
            {
                return Error(HttpStatusCode.BadRequest, 6000, "The video you tried to upload is too large. Please try again with a smaller file.", 1363023);
            }

            string id = (++_counter + 700_000_000_000).ToString(CultureInfo.InvariantCulture);
            string? description = parameters.GetValueOrDefault("description") is { Length: > 0 } d ? d : null;
            content = new FakeFacebookVideo(id, bytes, file!.ContentType, file.FileName, description, parameters.GetValueOrDefault("title"));
            var post = AddPost(pageId, description, null, [], content);
            _videos[id] = new Video(content, pageId, description, post.CreatedAt) { PollsLeft = VideoProcessingPolls, Failure = _videoFailure };
            _videoFailure = null;
        }

        if (Interlocked.Exchange(ref _loseNext, 0) > 0)
        {
            context.Abort();
            return Results.Empty;
        }

        return Results.Json(new { id = content.Id });
    }

    private IResult Videos(HttpContext context, string version, string pageId, Dictionary<string, string> p)
    {
        lock (_gate)
        {
            if ((Authenticate(context, version, p, out var token) ?? PageRefusal(token!, pageId, "pages_read_engagement")) is { } refused)
            {
                return refused;
            }

            var videos = _videos.Values.Where(v => v.PageId == pageId).OrderByDescending(v => v.CreatedAt).ThenByDescending(v => v.Content.Id, StringComparer.Ordinal).ToList();
            int offset = p.TryGetValue("after", out string? after) ? Cursor(after) : 0;
            int limit = p.TryGetValue("limit", out string? l) && int.TryParse(l, CultureInfo.InvariantCulture, out int n) && n > 0 ? Math.Min(n, 100) : 25;
            var slice = videos.Skip(offset).Take(limit).ToList();
            var fields = (p.GetValueOrDefault("fields") ?? "id,description,updated_time").Split(',', StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            var data = new JsonArray([.. slice.Select(video => (JsonNode)Json(video, fields))]);
            return Results.Json(new JsonObject { ["data"] = data, ["paging"] = Paging(context, offset, slice.Count, offset + slice.Count < videos.Count) });
        }
    }

    // Called under _gate. A video as Graph shows it; reading its status counts as a poll of its processing.
    private JsonObject Json(Video video, HashSet<string> fields)
    {
        var json = new JsonObject { ["id"] = video.Content.Id };
        if (fields.Contains("description") && video.Description is not null)
        {
            json["description"] = video.Description;
        }

        if (fields.Contains("created_time"))
        {
            json["created_time"] = video.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'+0000'", CultureInfo.InvariantCulture);
        }

        if (fields.Contains("permalink_url"))
        {
            // Graph gives a video's permalink relative to facebook.com.
            json["permalink_url"] = $"/{video.PageId}/videos/{video.Content.Id}/";
        }

        if (fields.Contains("status"))
        {
            VideoStatusRequests++;
            string state = video.Status;
            var processing = new JsonObject { ["status"] = state switch { "processing" => "in_progress", "ready" => "complete", _ => "error" } };
            if (state == "error")
            {
                processing["errors"] = new JsonArray(new JsonObject { ["code"] = 1363008, ["message"] = video.Failure });
            }

            json["status"] = new JsonObject
            {
                ["video_status"] = state,
                ["uploading_phase"] = new JsonObject { ["status"] = "complete" },
                ["processing_phase"] = processing,
            };
            if (video.PollsLeft > 0)
            {
                video.PollsLeft--;
            }
        }

        return json;
    }

    private IResult CreatePost(HttpContext context, string version, string pageId, Dictionary<string, string> p)
    {
        FakeFacebookPost post;
        lock (_gate)
        {
            if ((Authenticate(context, version, p, out var token) ?? PageRefusal(token!, pageId)) is { } refused)
            {
                return refused;
            }

            if (RateLimit(context, pageId) is { } limited)
            {
                return limited;
            }

            if (_rejections.TryDequeue(out var rejection))
            {
                return Error(HttpStatusCode.BadRequest, rejection.Code, rejection.Message, rejection.Subcode);
            }

            var photos = new List<Photo>();
            for (int i = 0; p.TryGetValue($"attached_media[{i}]", out string? media); i++)
            {
                string? id = null;
                try
                {
                    id = JsonNode.Parse(media)?["media_fbid"]?.GetValue<string>();
                }
                catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
                {
                }

                if (id is null || !_photos.TryGetValue(id, out var photo) || photo.PageId != pageId || photo.Attached || photos.Contains(photo))
                {
                    return Error(HttpStatusCode.BadRequest, 100, $"(#100) attached_media[{i}] must be an unpublished photo of this Page that no post uses yet");
                }

                photos.Add(photo);
            }

            string? message = p.GetValueOrDefault("message");
            string? link = p.GetValueOrDefault("link");
            if (string.IsNullOrEmpty(message) && string.IsNullOrEmpty(link) && photos.Count == 0)
            {
                return Error(HttpStatusCode.BadRequest, 100, "(#100) Missing message or attachment");
            }

            if (link is not null && photos.Count > 0)
            {
                return Error(HttpStatusCode.BadRequest, 100, "(#100) link and attached_media cannot be used together");
            }

            photos.ForEach(photo => photo.Attached = true);
            // Graph leaves an empty message out of the post.
            post = AddPost(pageId, string.IsNullOrEmpty(message) ? null : message, link, [.. photos.Select(photo => photo.Content)]);
        }

        if (Interlocked.Exchange(ref _loseNext, 0) > 0)
        {
            context.Abort();
            return Results.Empty;
        }

        return Results.Json(new { id = post.Id });
    }

    private IResult Feed(HttpContext context, string version, string pageId, Dictionary<string, string> p)
    {
        lock (_gate)
        {
            if ((Authenticate(context, version, p, out var token) ?? PageRefusal(token!, pageId, "pages_read_engagement")) is { } refused)
            {
                return refused;
            }

            var since = p.TryGetValue("since", out string? s) && long.TryParse(s, CultureInfo.InvariantCulture, out long seconds)
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : DateTimeOffset.MinValue;
            var posts = _posts.Where(post => post.PageId == pageId && post.CreatedAt >= since).Reverse().ToList();
            int offset = p.TryGetValue("after", out string? after) ? Cursor(after) : 0;
            int limit = p.TryGetValue("limit", out string? l) && int.TryParse(l, CultureInfo.InvariantCulture, out int n) && n > 0 ? Math.Min(n, 100) : 25;
            var slice = posts.Skip(offset).Take(limit).ToList();
            var fields = (p.GetValueOrDefault("fields") ?? "id,message,created_time").Split(',', StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            var data = new JsonArray([.. slice.Select(post => (JsonNode)Json(post, fields))]);
            return Results.Json(new JsonObject { ["data"] = data, ["paging"] = Paging(context, offset, slice.Count, offset + slice.Count < posts.Count) });
        }
    }

    private IResult Delete(HttpContext context, string version, string objectId, Dictionary<string, string> p)
    {
        lock (_gate)
        {
            if (Authenticate(context, version, p, out var token) is { } refused)
            {
                return refused;
            }

            if (_deleteFailures.TryDequeue(out var failure))
            {
                if (failure.Code == 80001)
                {
                    _rateLimited++;
                    return RateLimit(context, token!.PageId ?? PageId)!;
                }

                return Error(failure.Status, failure.Code, $"(#{failure.Code}) A scripted failure.");
            }

            string? pageId = _posts.Find(post => post.Id == objectId)?.PageId ?? (_videos.TryGetValue(objectId, out var video) ? video.PageId : null);
            if (pageId is null)
            {
                return Error(HttpStatusCode.BadRequest, 100,
                    $"Unsupported delete request. Object with ID '{objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", 33);
            }

            if (PageRefusal(token!, pageId) is { } forbidden)
            {
                return forbidden;
            }

            _posts.RemoveAll(post => post.Id == objectId);
            _videos.Remove(objectId);
            _deleted.Add(objectId);
            return Results.Json(new JsonObject { ["success"] = true });
        }
    }

    private IResult Object(HttpContext context, string version, string objectId, Dictionary<string, string> p)
    {
        lock (_gate)
        {
            if (Authenticate(context, version, p, out var token) is { } refused)
            {
                return refused;
            }

            var fields = (p.GetValueOrDefault("fields") ?? "id,message,created_time").Split(',', StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            if (_videos.TryGetValue(objectId, out var video) && (token!.PageId is not { } videoPage || videoPage == video.PageId))
            {
                return Results.Json(Json(video, fields));
            }

            if (_posts.FirstOrDefault(post => post.Id == objectId) is not { } found || (token!.PageId is { } page && page != found.PageId))
            {
                return Error(HttpStatusCode.BadRequest, 100,
                    $"Unsupported get request. Object with ID '{objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", 33);
            }

            fields.Add("id");
            return Results.Json(Json(found, fields));
        }
    }

    private FakeFacebookPost AddPost(string pageId, string? message, string? link, IReadOnlyList<FakeFacebookPhoto> photos, FakeFacebookVideo? video = null)
    {
        string n = (++_counter + 1_000_000_000).ToString(CultureInfo.InvariantCulture);
        var post = new FakeFacebookPost($"{pageId}_{n}", pageId, message, link, photos, DateTimeOffset.UtcNow,
            $"https://www.facebook.com/{pageId}/posts/{n}", video);
        _posts.Add(post);
        return post;
    }

    private static JsonObject Json(FakeFacebookPost post, HashSet<string> fields)
    {
        var json = new JsonObject();
        if (fields.Contains("created_time"))
        {
            json["created_time"] = post.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'+0000'", CultureInfo.InvariantCulture);
        }

        if (fields.Contains("message") && post.Message is not null)
        {
            json["message"] = post.Message;
        }

        if (fields.Contains("permalink_url"))
        {
            json["permalink_url"] = post.PermalinkUrl;
        }

        if (fields.Contains("attachments") && post.Video is { } video)
        {
            json["attachments"] = new JsonObject
            {
                ["data"] = new JsonArray(new JsonObject
                {
                    ["type"] = "video_inline",
                    ["target"] = new JsonObject { ["id"] = video.Id },
                    ["url"] = $"https://www.facebook.com/{post.PageId}/videos/{video.Id}/",
                }),
            };
        }
        else if (fields.Contains("attachments") && (post.Photos.Count > 0 || post.Link is not null))
        {
            JsonObject Photo(FakeFacebookPhoto photo) => new()
            {
                ["type"] = "photo",
                ["target"] = new JsonObject { ["id"] = photo.Id },
                ["url"] = $"https://www.facebook.com/photo.php?fbid={photo.Id}",
            };
            JsonObject attachment = post.Photos.Count switch
            {
                0 => new JsonObject { ["type"] = "share", ["url"] = post.Link },
                1 => Photo(post.Photos[0]),
                _ => new JsonObject
                {
                    ["type"] = "album",
                    ["subattachments"] = new JsonObject { ["data"] = new JsonArray([.. post.Photos.Select(photo => (JsonNode)Photo(photo))]) },
                },
            };
            json["attachments"] = new JsonObject { ["data"] = new JsonArray(attachment) };
        }

        json["id"] = post.Id;
        return json;
    }

    private JsonObject Paging(HttpContext context, int offset, int count, bool more)
    {
        var paging = new JsonObject
        {
            ["cursors"] = new JsonObject { ["before"] = CursorOf(offset), ["after"] = CursorOf(offset + count) },
        };
        if (more)
        {
            var query = context.Request.Query.Where(q => q.Key is not ("after" or "access_token")).Select(q => $"{q.Key}={Uri.EscapeDataString(q.Value.ToString())}");
            paging["next"] = $"{BaseUrl.ToString().TrimEnd('/')}{context.Request.Path}?{string.Join('&', query.Append($"after={CursorOf(offset + count)}"))}";
        }

        return paging;
    }

    private static string CursorOf(int offset) => Base64UrlEncode(Encoding.ASCII.GetBytes($"offset:{offset}"));

    private static int Cursor(string cursor)
    {
        try
        {
            string text = Encoding.ASCII.GetString(Convert.FromBase64String(cursor.Replace('-', '+').Replace('_', '/').PadRight((cursor.Length + 3) / 4 * 4, '=')));
            return text.StartsWith("offset:", StringComparison.Ordinal) && int.TryParse(text[7..], CultureInfo.InvariantCulture, out int offset) ? offset : 0;
        }
        catch (FormatException)
        {
            return 0;
        }
    }

    // Called under _gate. The token from access_token (query or form) or Authorization: Bearer/OAuth.
    private IResult? Authenticate(HttpContext context, string version, Dictionary<string, string> parameters, out Token? token)
    {
        _requests.Add($"{context.Request.Method} {context.Request.Path}");
        token = null;
        if (!Version(version))
        {
            return Error(HttpStatusCode.BadRequest, 2635, $"{version} is not a Graph API version.");
        }

        string? value = parameters.GetValueOrDefault("access_token");
        if (value is null && context.Request.Headers.Authorization is { Count: > 0 } header)
        {
            string h = header.ToString();
            int space = h.IndexOf(' ', StringComparison.Ordinal);
            value = space > 0 && h[..space] is "Bearer" or "OAuth" ? h[(space + 1)..] : null;
        }

        if (string.IsNullOrEmpty(value))
        {
            return Error(HttpStatusCode.BadRequest, 2500, "An active access token must be used to query information about the current user.");
        }

        if (!_tokens.TryGetValue(value, out token))
        {
            return Error(HttpStatusCode.BadRequest, 190, "Invalid OAuth access token - Cannot parse access token");
        }

        return token.Invalid is { } invalid ? TokenError(invalid) : null;
    }

    private static IResult TokenError(string invalid) => invalid == "revoked"
        ? Error(HttpStatusCode.BadRequest, 190, $"Error validating access token: The user has not authorized application {ClientId}.", 458)
        : Error(HttpStatusCode.BadRequest, 190, "Error validating access token: Session has expired on Thursday, 03-Dec-26 02:00:00 PST.", 463);

    // Called under _gate: a Page's own token with the permission, for one of the fake user's Pages.
    private IResult? PageRefusal(Token token, string pageId, string permission = "pages_manage_posts")
    {
        if (_pages.All(page => page.Id != pageId))
        {
            return Error(HttpStatusCode.BadRequest, 100,
                $"Unsupported post request. Object with ID '{pageId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", 33);
        }

        if (token.PageId != pageId)
        {
            return Error(HttpStatusCode.Forbidden, 200, "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission");
        }

        return token.Scopes.Contains(permission)
            ? null
            : Error(HttpStatusCode.Forbidden, 200, $"(#200) The permission {permission} is required for this request");
    }

    // Called under _gate.
    private IResult? RateLimit(HttpContext context, string pageId)
    {
        if (_rateLimited <= 0)
        {
            return null;
        }

        _rateLimited--;
        context.Response.Headers["X-Business-Use-Case-Usage"] = new JsonObject
        {
            [pageId] = new JsonArray(new JsonObject
            {
                ["type"] = "pages", ["call_count"] = 100, ["total_cputime"] = 12, ["total_time"] = 15, ["estimated_time_to_regain_access"] = _rateLimitMinutes,
            }),
        }.ToJsonString();
        return Error(HttpStatusCode.BadRequest, 80001,
            "(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.");
    }

    private static IResult Error(HttpStatusCode status, int code, string message, int? subcode = null)
    {
        var error = new JsonObject { ["message"] = message, ["type"] = code is 190 or 191 or 101 or 100 or 1 ? "OAuthException" : "GraphMethodException", ["code"] = code };
        if (subcode is { } s)
        {
            error["error_subcode"] = s;
        }

        error["fbtrace_id"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(8));
        return Results.Json(new JsonObject { ["error"] = error }, statusCode: (int)status);
    }

    private static bool Version(string version) => GraphVersion().IsMatch(version);

    private static string Append(string uri, params (string Name, string Value)[] parameters)
        => uri + (uri.Contains('?', StringComparison.Ordinal) ? "&" : "?") + string.Join('&', parameters.Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value)}"));

    private static string Base64UrlEncode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [GeneratedRegex(@"^v\d+\.\d+$")]
    private static partial Regex GraphVersion();

    [GeneratedRegex("^[A-Za-z0-9_-]{43,128}$")]
    private static partial Regex Base64Url();
}

/// <summary>A photo uploaded to a Page: its bytes and type as sent (or the URL Facebook was to fetch it from).</summary>
public sealed record FakeFacebookPhoto(string Id, byte[] Bytes, string ContentType, string? FileName, string? Url);

/// <summary>A post on a Page's feed: its message, link and photos in order, or its video.</summary>
public sealed record FakeFacebookPost(string Id, string PageId, string? Message, string? Link, IReadOnlyList<FakeFacebookPhoto> Photos,
    DateTimeOffset CreatedAt, string PermalinkUrl, FakeFacebookVideo? Video = null);

/// <summary>A video published on a Page: its bytes and type as sent, its description and title.</summary>
public sealed record FakeFacebookVideo(string Id, byte[] Bytes, string ContentType, string? FileName, string? Description, string? Title);
