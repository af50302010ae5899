using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using ScheduledPosts.Testing;
using ScheduledPosts.Testing.FakePlatforms;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 17 through the real processes, with X, LinkedIn, Facebook and a Bluesky PDS played by fakes of ours that follow
/// their documents (tests/ScheduledPosts.Testing/FakePlatforms) on 127.0.0.2, which stands in for the platforms' public
/// hosts: an account connects through the OAuth flow (the test is the user's browser) or with an app password, a post
/// with text, a link and two images arrives once with its images; a 429 delays the retry to the platform's reset; an
/// expired token is refreshed; a revoked grant ends the target ACCOUNT_REAUTH_REQUIRED and sends account.reauth_required;
/// a lost answer is found, not posted twice.
/// </summary>
public sealed class OAuthPlatformTests(OAuthPlatformTests.PlatformStack stack) : IClassFixture<OAuthPlatformTests.PlatformStack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Callback = "https://posts.example.test/v1/oauth/callback";
    private const string RedirectUri = "https://app.example.test/connected";

    public sealed class PlatformStack : Stack
    {
        private static readonly IPAddress Public = IPAddress.Parse("127.0.0.2");

        public FakeX X { get; private set; } = null!;
        public FakeLinkedIn LinkedIn { get; private set; } = null!;
        public FakeFacebook Facebook { get; private set; } = null!;
        public FakeBluesky Bluesky { get; private set; } = null!;

        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (X is null)
            {
                X = FakeX.StartAsync(Public).GetAwaiter().GetResult();
                LinkedIn = FakeLinkedIn.StartAsync(Public).GetAwaiter().GetResult();
                Facebook = FakeFacebook.StartAsync(Public).GetAwaiter().GetResult();
                Bluesky = FakeBluesky.StartAsync(Public).GetAwaiter().GetResult();
            }

            if (service is "scheduling" or "publisher")
            {
                // A production Outbound policy except that the fakes' host is allowed, over http: the scheduling service
                // checks a Bluesky account's PDS when it connects, the publisher on every connection.
                environment["Outbound__AllowHttp"] = "true";
                environment["Outbound__AllowedNetworks__0"] = "127.0.0.2/32";
            }

            if (service == "scheduling")
            {
                environment["OAuth__CallbackUrl"] = Callback;
                App(environment, "x", FakeX.ClientId, FakeX.ClientSecret, X.AuthorizeUrl, X.TokenUrl, X.BaseUrl);
                App(environment, "linkedin_company", FakeLinkedIn.ClientId, FakeLinkedIn.ClientSecret, LinkedIn.AuthorizeUrl, LinkedIn.TokenUrl, LinkedIn.BaseUrl);
                App(environment, "linkedin_person", FakeLinkedIn.ClientId, FakeLinkedIn.ClientSecret, LinkedIn.AuthorizeUrl, LinkedIn.TokenUrl, LinkedIn.BaseUrl);
                // An app LinkedIn approved to read its members' posts (r_member_social), so a lost answer can be looked up.
                string[] personScopes = ["openid", "profile", "w_member_social", "r_member_social"];
                for (int i = 0; i < personScopes.Length; i++)
                {
                    environment[$"OAuth__Platforms__linkedin_person__Scopes__{i}"] = personScopes[i];
                }
                App(environment, "facebook_page", FakeFacebook.ClientId, FakeFacebook.ClientSecret,
                    new Uri(Facebook.BaseUrl, "v26.0/dialog/oauth"), new Uri(Facebook.BaseUrl, "v26.0/oauth/access_token"), new Uri(Facebook.BaseUrl, "v26.0/"));
            }

            if (service == "publisher")
            {
                environment["X__BaseUrl"] = X.BaseUrl.AbsoluteUri;
                environment["LinkedIn__BaseUrl"] = LinkedIn.BaseUrl.AbsoluteUri;
                environment["Facebook__BaseUrl"] = Facebook.BaseUrl.AbsoluteUri;
            }
        }

        private static void App(Dictionary<string, string> environment, string platform, string clientId, string secret, Uri authorize, Uri token, Uri api)
        {
            environment[$"OAuth__Platforms__{platform}__ClientId"] = clientId;
            environment[$"OAuth__Platforms__{platform}__ClientSecret"] = secret;
            environment[$"OAuth__Platforms__{platform}__AuthorizeUrl"] = authorize.AbsoluteUri;
            environment[$"OAuth__Platforms__{platform}__TokenUrl"] = token.AbsoluteUri;
            environment[$"OAuth__Platforms__{platform}__ApiBaseUrl"] = api.AbsoluteUri;
        }

        public new async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await X.DisposeAsync();
            await LinkedIn.DisposeAsync();
            await Facebook.DisposeAsync();
            await Bluesky.DisposeAsync();
        }
    }

    [Fact]
    public async Task X_an_account_connects_and_a_post_with_a_link_and_two_images_arrives_once_after_a_rate_limit_an_expired_token_and_a_lost_answer()
    {
        string account = await ConnectAsync("x");
        var (png, jpeg, media) = await TwoImagesAsync();

        // Arrives once, with the images in order.
        string caption = $"Launch day {Guid.NewGuid():N} https://example.org/launch";
        var post = await PublishAsync(caption, account, media);
        var sent = Assert.Single(stack.X.Posts, p => p.Text == caption);
        Assert.Equal([png, jpeg], sent.Media.Select(m => m.Bytes));
        Assert.Equal(sent.Id, post["targets"]![0]!["externalPostId"]!.GetValue<string>());

        // A 429: the retry waits for x-rate-limit-reset.
        var reset = DateTimeOffset.UtcNow.AddSeconds(6);
        stack.X.RateLimitCreates(1, reset);
        string limited = $"Rate limited {Guid.NewGuid():N}";
        var afterLimit = await PublishAsync(limited, account, media);
        Assert.Single(stack.X.Posts, p => p.Text == limited);
        Assert.True(DateTimeOffset.Parse(afterLimit["targets"]![0]!["publishedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) >= reset.AddSeconds(-1),
            afterLimit.ToJsonString());

        // An expired token: refreshed (X rotates the refresh token) and the post still goes out, once.
        int refreshes = stack.X.Requests.Count(r => r.Path == "/2/oauth2/token");
        stack.X.ExpireAccessTokens();
        string expired = $"After expiry {Guid.NewGuid():N}";
        await PublishAsync(expired, account, media);
        Assert.Single(stack.X.Posts, p => p.Text == expired);
        Assert.True(stack.X.Requests.Count(r => r.Path == "/2/oauth2/token") > refreshes);

        // A lost answer: found among the account's posts before any retry, not posted twice.
        stack.X.LoseNextCreateAnswer();
        string lost = $"Lost answer {Guid.NewGuid():N} https://example.org/lost";
        var found = await PublishAsync(lost, account, media);
        var once = Assert.Single(stack.X.Posts, p => p.Text == lost);
        Assert.Equal(once.Id, found["targets"]![0]!["externalPostId"]!.GetValue<string>());
    }

    [Fact]
    public async Task X_a_post_unpublished_after_its_token_expired_is_removed_with_a_refreshed_token()
    {
        string account = await ConnectAsync("x");
        string caption = $"Here until the token expires {Guid.NewGuid():N}";
        var post = await PublishAsync(caption, account, []);
        string postId = post["id"]!.GetValue<string>();
        string externalId = post["targets"]![0]!["externalPostId"]!.GetValue<string>();
        int refreshes = stack.X.Requests.Count(r => r.Path == "/2/oauth2/token");
        stack.X.ExpireAccessTokens();

        var unpublish = await stack.Gateway.PostAsync($"/v1/posts/{postId}/unpublish", null);
        Assert.Equal(HttpStatusCode.OK, unpublish.StatusCode);

        var ended = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["targets"]![0]!["status"]!.GetValue<string>() != "published" || p["targets"]![0]!["errorCode"] is not null, Patience, "the removal to end");
        Assert.True(ended["targets"]![0]!["status"]!.GetValue<string>() == "unpublished", ended.ToJsonString());
        Assert.Equal(externalId, Assert.Single(stack.X.Deleted, d => d.Text == caption).Id);
        Assert.DoesNotContain(stack.X.Posts, p => p.Text == caption);
        Assert.True(stack.X.Requests.Count(r => r.Path == "/2/oauth2/token") > refreshes);
    }

    [Fact]
    public async Task LinkedIn_a_page_connects_and_a_post_with_a_link_and_two_images_arrives_once_after_a_rate_limit_an_expired_token_and_a_lost_answer()
    {
        string account = await ConnectAsync("linkedin_company");
        var (png, jpeg, media) = await TwoImagesAsync();

        string caption = $"Launch day {Guid.NewGuid():N} https://example.org/launch";
        await PublishAsync(caption, account, media);
        var sent = Assert.Single(stack.LinkedIn.Posts, p => p.Text == caption);
        Assert.Equal([png, jpeg], sent.Images.Select(i => i.Bytes));

        stack.LinkedIn.RateLimitNextCreates(1, TimeSpan.FromSeconds(6));
        var limitedAt = DateTimeOffset.UtcNow;
        string limited = $"Rate limited {Guid.NewGuid():N}";
        var afterLimit = await PublishAsync(limited, account, media);
        Assert.Single(stack.LinkedIn.Posts, p => p.Text == limited);
        Assert.True(DateTimeOffset.Parse(afterLimit["targets"]![0]!["publishedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) >= limitedAt.AddSeconds(5),
            afterLimit.ToJsonString());

        await ExpiredTokenThenLostAnswerOnLinkedInAsync(account, media);
    }

    [Fact]
    public async Task LinkedIn_a_member_connects_and_a_post_with_a_link_and_two_images_arrives_once_after_an_expired_token_and_a_lost_answer()
    {
        string account = await ConnectAsync("linkedin_person");
        var (png, jpeg, media) = await TwoImagesAsync();

        string caption = $"Launch day {Guid.NewGuid():N} https://example.org/launch";
        await PublishAsync(caption, account, media);
        var sent = Assert.Single(stack.LinkedIn.Posts, p => p.Text == caption);
        Assert.Equal(FakeLinkedIn.PersonUrn, sent.Author);
        Assert.Equal([png, jpeg], sent.Images.Select(i => i.Bytes));

        await ExpiredTokenThenLostAnswerOnLinkedInAsync(account, media);
    }

    [Fact]
    public async Task Facebook_a_page_connects_and_a_post_with_a_link_and_two_images_arrives_once_after_a_rate_limit_and_a_lost_answer_is_found()
    {
        string account = await ConnectAsync("facebook_page");
        var (png, jpeg, media) = await TwoImagesAsync();

        string caption = $"Launch day {Guid.NewGuid():N} https://example.org/launch";
        await PublishAsync(caption, account, media);
        var sent = Assert.Single(stack.Facebook.Posts, p => p.Message == caption);
        Assert.Equal(FakeFacebook.PageId, sent.PageId);
        Assert.Equal([png, jpeg], sent.Photos.Select(p => p.Bytes));

        // A Page rate limit (code 80001): the retry waits the minute X-Business-Use-Case-Usage's estimated_time_to_regain_access names.
        stack.Facebook.RateLimitNextCreates(1, minutes: 1);
        var limitedAt = DateTimeOffset.UtcNow;
        string limited = $"Rate limited {Guid.NewGuid():N}";
        var afterLimit = await PublishAsync(limited, account, media, patience: Patience + TimeSpan.FromMinutes(1));
        Assert.Single(stack.Facebook.Posts, p => p.Message == limited);
        Assert.True(DateTimeOffset.Parse(afterLimit["targets"]![0]!["publishedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) >= limitedAt.AddSeconds(59),
            afterLimit.ToJsonString());

        stack.Facebook.LoseNextCreateAnswer();
        string lost = $"Lost answer {Guid.NewGuid():N}";
        var found = await PublishAsync(lost, account, media);
        var once = Assert.Single(stack.Facebook.Posts, p => p.Message == lost);
        Assert.Equal(once.Id, found["targets"]![0]!["externalPostId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Bluesky_an_account_connects_with_an_app_password_and_a_post_with_a_link_and_two_images_arrives_once_after_a_rate_limit_an_expired_session_and_a_lost_answer()
    {
        string account = await ConnectBlueskyAsync();
        var (png, jpeg, media) = await TwoImagesAsync();

        string caption = $"Launch day {Guid.NewGuid():N} https://example.org/launch";
        var post = await PublishAsync(caption, account, media);
        var sent = Assert.Single(stack.Bluesky.Records, r => Text(r) == caption);
        Assert.Equal([Sha256(png), Sha256(jpeg)], sent.Value["embed"]!["images"]!.AsArray()
            .Select(i => stack.Bluesky.Blobs[i!["image"]!["ref"]!["$link"]!.GetValue<string>()].Sha256));
        Assert.Equal("https://example.org/launch", sent.Value["facets"]![0]!["features"]![0]!["uri"]!.GetValue<string>());
        Assert.Equal(sent.Uri, post["targets"]![0]!["externalPostId"]!.GetValue<string>());

        // A 429: the retry waits for RateLimit-Reset (Unix seconds).
        var reset = DateTimeOffset.UtcNow.AddSeconds(6);
        int limited = 1;
        stack.Bluesky.Fault = (context, nsid) =>
        {
            if (nsid != "com.atproto.repo.createRecord" || Interlocked.Decrement(ref limited) < 0)
            {
                return Task.FromResult<Microsoft.AspNetCore.Http.IResult?>(null);
            }

            context.Response.Headers["RateLimit-Limit"] = "5000";
            context.Response.Headers["RateLimit-Remaining"] = "0";
            context.Response.Headers["RateLimit-Reset"] = reset.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Task.FromResult<Microsoft.AspNetCore.Http.IResult?>(FakeBluesky.Error(429, "RateLimitExceeded", "Rate Limit Exceeded"));
        };
        string limitedCaption = $"Rate limited {Guid.NewGuid():N}";
        var afterLimit = await PublishAsync(limitedCaption, account, media);
        stack.Bluesky.Fault = null;
        Assert.Single(stack.Bluesky.Records, r => Text(r) == limitedCaption);
        Assert.True(DateTimeOffset.Parse(afterLimit["targets"]![0]!["publishedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) >= reset.AddSeconds(-1),
            afterLimit.ToJsonString());

        // An expired session: refreshed (refreshSession), and the post still goes out, once.
        int refreshes = stack.Bluesky.SessionsRefreshed;
        stack.Bluesky.ExpireAccessTokens();
        string expired = $"After expiry {Guid.NewGuid():N}";
        await PublishAsync(expired, account, media);
        Assert.Single(stack.Bluesky.Records, r => Text(r) == expired);
        Assert.True(stack.Bluesky.SessionsRefreshed > refreshes);

        // A lost answer: the record is there under the target's own key; found, not made twice.
        stack.Bluesky.DropNextCreates(1);
        string lost = $"Lost answer {Guid.NewGuid():N} https://example.org/lost";
        var found = await PublishAsync(lost, account, media);
        var once = Assert.Single(stack.Bluesky.Records, r => Text(r) == lost);
        Assert.Equal(once.Uri, found["targets"]![0]!["externalPostId"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_revoked_grant_ends_the_target_ACCOUNT_REAUTH_REQUIRED_marks_the_account_and_sends_account_reauth_required()
    {
        var endpoint = await stack.Gateway.PostAsJsonAsync("/v1/webhook-endpoints", new { url = stack.Receiver.Url, events = new[] { "account.reauth_required" } });
        Assert.True(endpoint.IsSuccessStatusCode, await endpoint.Content.ReadAsStringAsync());
        // Facebook Page tokens cannot be refreshed; X's and LinkedIn's refreshes are refused once revoked; a revoked Bluesky
        // app password cannot be renewed: all end the same way.
        foreach (string platform in new[] { "facebook_page", "x", "linkedin_company", "bluesky" })
        {
            string account = platform == "bluesky" ? await ConnectBlueskyAsync() : await ConnectAsync(platform);
            int before = Sent();
            Action revoke = platform switch
            {
                "x" => stack.X.RevokeGrants,
                "linkedin_company" => stack.LinkedIn.RevokeGrants,
                "bluesky" => stack.Bluesky.RevokeAppPassword,
                _ => stack.Facebook.RevokeGrant,
            };
            revoke();

            var post = await stack.CreatePostAsync($"Never sent {Guid.NewGuid():N}", account, DateTimeOffset.UtcNow.AddSeconds(1));
            var failed = await Eventually.Until(() => stack.GetPostAsync(post["id"]!.GetValue<string>()),
                p => p["status"]!.GetValue<string>() is "failed" or "published", Patience, $"the {platform} post to end");

            var target = failed["targets"]![0]!;
            Assert.True(target["errorCode"]?.GetValue<string>() == "ACCOUNT_REAUTH_REQUIRED", failed.ToJsonString());
            Assert.Equal(before, Sent());
            var shown = await stack.Gateway.GetFromJsonAsync<JsonObject>($"/v1/social-accounts/{account}");
            Assert.Equal("reauth_required", shown!["status"]!.GetValue<string>());
            await Eventually.Until(() => Task.FromResult(stack.Receiver.Received.Count(w => w.Body.Contains("account.reauth_required", StringComparison.Ordinal)
                    && w.Body.Contains(account, StringComparison.Ordinal))), n => n > 0, Patience, $"account.reauth_required for {account}");
        }
    }

    /// <summary>An expired token is refreshed and the post goes out once; a lost answer is found, not posted twice.</summary>
    private async Task ExpiredTokenThenLostAnswerOnLinkedInAsync(string account, string[] media)
    {
        stack.LinkedIn.ExpireAccessTokens();
        string expired = $"After expiry {Guid.NewGuid():N}";
        await PublishAsync(expired, account, media);
        Assert.Single(stack.LinkedIn.Posts, p => p.Text == expired);

        stack.LinkedIn.LoseNextCreateAnswers(1);
        string lost = $"Lost answer {Guid.NewGuid():N}";
        var found = await PublishAsync(lost, account, media);
        var once = Assert.Single(stack.LinkedIn.Posts, p => p.Text == lost);
        Assert.Equal(once.Urn, found["targets"]![0]!["externalPostId"]!.GetValue<string>());
    }

    private int Sent() => stack.X.Posts.Count + stack.LinkedIn.Posts.Count + stack.Facebook.Posts.Count + stack.Bluesky.Records.Count;

    /// <summary>
    /// A Bluesky account connects with the handle and an app password its user made, on the fake PDS: new (201), or the
    /// workspace's account of that DID again, active with the current password (200).
    /// </summary>
    private async Task<string> ConnectBlueskyAsync()
    {
        var connected = await stack.Gateway.PostAsJsonAsync("/v1/social-accounts",
            new { platform = "bluesky", handle = FakeBluesky.Handle, credentials = stack.Bluesky.AccountCredentials() });
        Assert.True(connected.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, await connected.Content.ReadAsStringAsync());
        var account = (await connected.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("active", account["status"]!.GetValue<string>());
        return account["id"]!.GetValue<string>();
    }

    private static string? Text(FakeBluesky.StoredRecord record) => record.Value["text"]?.GetValue<string>();

    private static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The whole OAuth flow, the test acting as the user's browser; returns the new account's id.</summary>
    private async Task<string> ConnectAsync(string platform)
    {
        var start = await stack.Gateway.PostAsJsonAsync("/v1/social-accounts/connect", new { platform, redirectUri = RedirectUri, state = platform });
        Assert.True(start.IsSuccessStatusCode, await start.Content.ReadAsStringAsync());
        var authorize = new Uri((await start.Content.ReadFromJsonAsync<JsonObject>())!["authorizationUrl"]!.GetValue<string>());

        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = stack.Gateway.BaseAddress };
        var consent = await browser.GetAsync(authorize);
        Assert.Equal(HttpStatusCode.Found, consent.StatusCode);
        var callback = consent.Headers.Location!;
        Assert.StartsWith(Callback, callback.ToString(), StringComparison.Ordinal);

        var back = await browser.GetAsync(callback.PathAndQuery); // through the gateway, without a key
        Assert.True(back.StatusCode == HttpStatusCode.Redirect, $"{back.StatusCode}: {await back.Content.ReadAsStringAsync()}");
        var answer = QueryHelpers.ParseQuery(back.Headers.Location!.Query);
        Assert.True(answer.ContainsKey("accountId"), back.Headers.Location.ToString());
        Assert.Equal(platform, answer["state"]);
        return answer["accountId"]!;
    }

    private async Task<(byte[] Png, byte[] Jpeg, string[] MediaIds)> TwoImagesAsync()
    {
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. RandomNumberGenerator.GetBytes(40_000)];
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xE0, .. RandomNumberGenerator.GetBytes(30_000)];
        return (png, jpeg, [await UploadAsync(png, "image/png", "one.png"), await UploadAsync(jpeg, "image/jpeg", "two.jpg")]);
    }

    private async Task<string> UploadAsync(byte[] content, string contentType, string name)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        form.Add(file, "file", name);
        var response = await stack.Gateway.PostAsync("/v1/media", form);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    /// <summary>Schedules a post a moment ahead and waits for it to end; it must end published.</summary>
    private async Task<JsonObject> PublishAsync(string caption, string account, string[] mediaIds, TimeSpan? patience = null)
    {
        var created = await stack.Gateway.PostAsJsonAsync("/v1/posts", new
        {
            caption,
            targets = new[] { new { socialAccountId = account } },
            mediaIds,
            scheduledFor = DateTimeOffset.UtcNow.AddSeconds(1).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        string id = (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        var ended = await Eventually.Until(() => stack.GetPostAsync(id),
            p => p["status"]!.GetValue<string>() is "published" or "failed", patience ?? Patience, $"post {id} to end");
        Assert.True(ended["status"]!.GetValue<string>() == "published", ended.ToJsonString() + stack.Logs[^Math.Min(stack.Logs.Length, 4000)..]);
        return ended;
    }
}
