using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Issue 17: <c>GET /v1/platforms</c>, what a client checks against before it posts.</summary>
public sealed class PlatformsApiTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly string[] Catalogue =
    [
        "instagram", "facebook_page", "x", "linkedin_person", "linkedin_company", "tiktok_business", "tiktok_personal",
        "youtube", "pinterest", "threads", "bluesky", "mastodon", "sandbox",
    ];

    [Fact]
    public async Task Every_platform_is_listed_with_how_it_connects_and_the_supported_ones_with_their_limits()
    {
        var platforms = (await factory.Client().GetFromJsonAsync<JsonObject>("/v1/platforms"))!["data"]!.AsArray();

        Assert.Equal(Catalogue, platforms.Select(p => p!["platform"]!.GetValue<string>()));
        var byName = platforms.ToDictionary(p => p!["platform"]!.GetValue<string>(), p => p!.AsObject());
        Assert.All(Catalogue[..10], name => Assert.Equal("oauth2", byName[name]["connect"]!.GetValue<string>()));
        Assert.Equal("app_password", byName["bluesky"]["connect"]!.GetValue<string>());
        Assert.Equal("access_token", byName["mastodon"]["connect"]!.GetValue<string>());
        Assert.Equal("none", byName["sandbox"]["connect"]!.GetValue<string>());

        var mastodon = byName["mastodon"];
        Assert.True(mastodon["supported"]!.GetValue<bool>());
        var limits = mastodon["capabilities"]!.AsObject();
        Assert.Equal(500, limits["maxCaptionLength"]!.GetValue<int>());
        Assert.Equal(["image", "video", "audio"], limits["mediaKinds"]!.AsArray().Select(k => k!.GetValue<string>()));
        Assert.Equal(4, limits["maxMedia"]!.GetValue<int>());
        Assert.True(limits["videoOrAudioAlone"]!.GetValue<bool>());
        Assert.True(limits["firstComment"]!.GetValue<bool>());
        Assert.True(limits["dedupes"]!.GetValue<bool>());
        Assert.Equal("code_points", limits["captionUnit"]!.GetValue<string>());

        var bluesky = byName["bluesky"];
        Assert.True(bluesky["supported"]!.GetValue<bool>());
        Assert.Equal(300, bluesky["capabilities"]!["maxCaptionLength"]!.GetValue<int>());
        Assert.Equal("graphemes", bluesky["capabilities"]!["captionUnit"]!.GetValue<string>());

        var x = byName["x"];
        Assert.True(x["supported"]!.GetValue<bool>());
        Assert.Equal((280, "x_weighted", "looked_up"), (x["capabilities"]!["maxCaptionLength"]!.GetValue<int>(),
            x["capabilities"]!["captionUnit"]!.GetValue<string>(), x["capabilities"]!["lostAnswer"]!.GetValue<string>()));
        // Videos have their own limit where the platform sets one apart from images'; a platform without video has none.
        Assert.Equal((5L * 1024 * 1024, 512L * 1024 * 1024), (x["capabilities"]!["maxMediaBytes"]!.GetValue<long>(), x["capabilities"]!["maxVideoBytes"]!.GetValue<long>()));
        Assert.Contains("video", x["capabilities"]!["mediaKinds"]!.AsArray().Select(k => k!.GetValue<string>()));
        Assert.Null(bluesky["capabilities"]!["maxVideoBytes"]);

        // Every supported platform's published copies can be removed, and the list says so.
        Assert.All(platforms.Where(p => p!["supported"]!.GetValue<bool>()), p => Assert.True(p!["capabilities"]!["unpublish"]!.GetValue<bool>()));
        Assert.Equal(7, platforms.Count(p => p!["supported"]!.GetValue<bool>()));

        // Not supported yet: listed, so a client knows the name and the way in, without limits to check against.
        Assert.False(byName["instagram"]["supported"]!.GetValue<bool>());
        Assert.Null(byName["instagram"]["capabilities"]);
    }

    [Fact]
    public async Task The_listed_caption_limit_is_the_one_creating_a_post_checks()
    {
        var client = factory.Client();
        var sandbox = (await client.GetFromJsonAsync<JsonObject>("/v1/platforms"))!["data"]!.AsArray()
            .Single(p => p!["platform"]!.GetValue<string>() == "sandbox")!;
        int limit = sandbox["capabilities"]!["maxCaptionLength"]!.GetValue<int>();
        string account = await SchedulingFactory.ConnectAccountAsync(client, "limits");

        await SchedulingFactory.CreatePostAsync(client, [account], null, caption: new string('a', limit));
        var tooLong = await client.PostAsJsonAsync("/v1/posts", new { caption = new string('a', limit + 1), targets = new[] { new { socialAccountId = account } } });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooLong.StatusCode);
    }

    [Fact]
    public async Task Connecting_an_account_of_a_listed_platform_not_supported_yet_says_so()
    {
        var response = await factory.Client().PostAsJsonAsync("/v1/social-accounts", new { platform = "instagram", handle = "brand" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("not supported yet", (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listing_platforms_needs_the_accounts_read_scope()
    {
        var response = await factory.Client(scopes: ["posts:read"]).GetAsync("/v1/platforms");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
