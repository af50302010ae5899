using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using ScheduledPosts.Scheduling.Accounts;
using ScheduledPosts.Testing;
using ScheduledPosts.Testing.FakePlatforms;
using Xunit;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Connecting a Bluesky account (identifier, app password, optional PDS URL under the Outbound policy; the PDS must sign
/// it in, and connecting it again updates the same account) and what the scheduling service checks of a post for one:
/// 300 graphemes and 3000 UTF-8 bytes of text, images of at most 2,000,000 bytes. The PDS is our fake, in memory.
/// </summary>
public sealed class BlueskyAccountTests(BlueskyAccountTests.ProductionPolicyFactory factory) : IClassFixture<BlueskyAccountTests.ProductionPolicyFactory>
{
    private const string AppPassword = FakeBluesky.AppPassword;

    // 🇫🇷: one grapheme of two code points and 8 UTF-8 bytes; 300 of them are 600 code points and 2,400 bytes.
    private const string Flag = "\U0001F1EB\U0001F1F7";

    // 👨‍👩‍👧‍👦: one grapheme of seven code points and 25 UTF-8 bytes.
    private const string Family = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466";

    /// <summary>
    /// The policy's production values, set explicitly: test hosts run as Development, whose settings relax it. Every
    /// PDS URL that passes the policy reaches <see cref="Pds"/>.
    /// </summary>
    public sealed class ProductionPolicyFactory : SchedulingFactory
    {
        public FakeBluesky Pds { get; } = FakeBluesky.StartAsync().GetAwaiter().GetResult();

        protected override void Configure(Dictionary<string, string> settings)
        {
            settings["Outbound:AllowHttp"] = "false";
            settings["Outbound:AllowLoopback"] = "false";
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddHttpClient(BlueskySignIn.HttpClientName)
                .ConfigurePrimaryHttpMessageHandler(() => Pds.CreateHandler()));
        }
    }

    [Theory]
    [InlineData("{}", "credentials.identifier")]
    [InlineData("""{"appPassword": "abcd-efgh-ijkl-mnop"}""", "credentials.identifier")]
    [InlineData("""{"identifier": " ", "appPassword": "abcd-efgh-ijkl-mnop"}""", "credentials.identifier")]
    [InlineData("""{"identifier": "alice.bsky.social"}""", "credentials.appPassword")]
    [InlineData("""{"identifier": "alice.bsky.social", "appPassword": ""}""", "credentials.appPassword")]
    public async Task Missing_identifier_or_app_password_is_a_422_naming_the_field(string credentials, string path)
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);

        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "bluesky",
            handle = "alice.bsky.social",
            credentials = JsonSerializer.Deserialize<Dictionary<string, string>>(credentials),
        });

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Equal(path, error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
        Assert.DoesNotContain(AppPassword, error.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(0L, await CountAccountsAsync(workspace));
    }

    [Theory]
    [InlineData("https://127.0.0.1:2583")]
    [InlineData("https://localhost")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://10.0.0.1")]
    [InlineData("http://pds.example")]
    [InlineData("https://user:password@pds.example")]
    [InlineData("pds.example")]
    [InlineData("ftp://pds.example")]
    public async Task A_service_url_the_outbound_policy_refuses_is_a_422_and_nothing_is_stored(string service)
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);

        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "bluesky",
            handle = "alice.example",
            credentials = new { identifier = "alice.example", appPassword = AppPassword, service },
        });

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Equal("credentials.service", error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
        Assert.DoesNotContain(AppPassword, error.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(0L, await CountAccountsAsync(workspace));
    }

    [Theory]
    [InlineData(null, "https://bsky.social")]
    [InlineData("https://pds.example", "https://pds.example")]
    public async Task An_account_is_connected_with_only_its_identifier_app_password_and_service_stored(string? service, string stored)
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);
        var credentials = new Dictionary<string, string> { ["identifier"] = FakeBluesky.Handle, ["appPassword"] = AppPassword, ["extra"] = "dropped" };
        if (service is not null)
        {
            credentials["service"] = service;
        }

        var response = await client.PostAsJsonAsync("/v1/social-accounts", new { platform = "bluesky", handle = "alice.bsky.social", credentials });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain(AppPassword, body, StringComparison.Ordinal);
        string id = JsonNode.Parse(body)!["id"]!.GetValue<string>();
        var json = JsonSerializer.Deserialize<Dictionary<string, string>>(await StoredCredentialsAsync(id))!;
        Assert.Equal(new Dictionary<string, string> { ["identifier"] = FakeBluesky.Handle, ["appPassword"] = AppPassword, ["service"] = stored }, json);
    }

    [Fact]
    public async Task An_app_password_the_PDS_refuses_is_a_422_and_nothing_is_stored()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);

        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "bluesky", handle = FakeBluesky.Handle, credentials = new { identifier = FakeBluesky.Handle, appPassword = "wxyz-wxyz-wxyz-wxyz" },
        });

        var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
        Assert.Equal("credentials.appPassword", error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
        Assert.DoesNotContain("wxyz-wxyz-wxyz-wxyz", error.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(0L, await CountAccountsAsync(workspace));
    }

    [Fact]
    public async Task A_PDS_that_cannot_answer_now_is_a_503_and_nothing_is_stored()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);
        factory.Pds.Fault = (_, nsid) => Task.FromResult<Microsoft.AspNetCore.Http.IResult?>(nsid == "com.atproto.server.createSession"
            ? FakeBluesky.Error(502, "UpstreamFailure", "Upstream Failure")
            : null);
        try
        {
            var response = await client.PostAsJsonAsync("/v1/social-accounts", new
            {
                platform = "bluesky", handle = FakeBluesky.Handle, credentials = new { identifier = FakeBluesky.Handle, appPassword = AppPassword },
            });

            await response.AssertEnvelopeAsync(HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
            Assert.Equal(0L, await CountAccountsAsync(workspace));
        }
        finally
        {
            factory.Pds.Fault = null;
        }
    }

    [Fact]
    public async Task Connecting_an_account_again_after_its_password_was_refused_updates_the_same_account_and_makes_it_active()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        using var client = factory.Client(workspace);
        string first = await ConnectAsync(client);
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            await connection.OpenAsync();
            await using var mark = new NpgsqlCommand("UPDATE scheduling.social_accounts SET status = 'reauth_required', credentials = NULL WHERE id = @id", connection);
            mark.Parameters.AddWithValue("id", first);
            await mark.ExecuteNonQueryAsync();
        }

        var again = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "bluesky", handle = FakeBluesky.Handle, displayName = "Alice", credentials = new { identifier = FakeBluesky.Did, appPassword = AppPassword },
        });

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var shown = (await again.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal((first, "active", "Alice"), (shown["id"]!.GetValue<string>(), shown["status"]!.GetValue<string>(), shown["displayName"]!.GetValue<string>()));
        Assert.Equal(1L, await CountAccountsAsync(workspace));
        Assert.Contains(FakeBluesky.Did, await StoredCredentialsAsync(first), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_caption_of_300_graphemes_is_accepted_and_301_refused_however_many_code_points_they_are()
    {
        using var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAsync(client);

        await SchedulingFactory.CreatePostAsync(client, [account], null, string.Concat(Enumerable.Repeat(Flag, 300)));
        var (status, body) = await SchedulingFactory.SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = string.Concat(Enumerable.Repeat(Flag, 301)),
            targets = new[] { new { socialAccountId = account } },
        });

        Assert.Equal((HttpStatusCode.UnprocessableEntity, "VALIDATION"), (status, SchedulingFactory.ErrorCode(body)));
        var issue = body["error"]!["details"]!["issues"]![0]!;
        Assert.Equal("caption", issue["path"]!.GetValue<string>());
        Assert.Contains("at most 300 characters (graphemes); this caption has 301", issue["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_first_comment_and_a_caption_override_are_counted_in_graphemes_too()
    {
        using var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAsync(client);

        var (status, body) = await SchedulingFactory.SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = "Hello",
            targets = new[] { new { socialAccountId = account, firstComment = string.Concat(Enumerable.Repeat("é", 301)) } },
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("targets[0].firstComment", body["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
    }

    [Fact]
    public async Task Fewer_than_300_graphemes_over_3000_UTF8_bytes_are_refused()
    {
        using var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAsync(client);

        // 121 family emoji: 121 graphemes, 3,025 bytes.
        var (status, body) = await SchedulingFactory.SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = string.Concat(Enumerable.Repeat(Family, 121)),
            targets = new[] { new { socialAccountId = account } },
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("at most 3000 bytes", body["error"]!["details"]!["issues"]![0]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        await SchedulingFactory.CreatePostAsync(client, [account], null, string.Concat(Enumerable.Repeat(Family, 120)));
    }

    [Fact]
    public async Task An_image_over_2000000_bytes_is_refused_for_a_Bluesky_target_only()
    {
        using var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string bluesky = await ConnectAsync(client);
        string sandbox = await SchedulingFactory.ConnectAccountAsync(client);
        string large = await UploadPngAsync(client, 2_000_001);
        string fits = await UploadPngAsync(client, 2_000_000);

        var (status, body) = await SchedulingFactory.SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = "Large",
            targets = new[] { new { socialAccountId = sandbox }, new { socialAccountId = bluesky } },
            mediaIds = new[] { fits, large },
        });
        var (sandboxOnly, _) = await SchedulingFactory.SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = "Large", targets = new[] { new { socialAccountId = sandbox } }, mediaIds = new[] { large },
        });
        var (blueskyFits, _) = await SchedulingFactory.SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = "Fits", targets = new[] { new { socialAccountId = bluesky } }, mediaIds = new[] { fits },
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        var issue = body["error"]!["details"]!["issues"]![0]!;
        Assert.Equal("targets[1].socialAccountId", issue["path"]!.GetValue<string>());
        Assert.Contains("at most 2,000,000 bytes; mediaIds[1] has 2,000,001", issue["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (sandboxOnly, blueskyFits));
    }

    private static async Task<string> ConnectAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "bluesky",
            handle = FakeBluesky.Handle,
            credentials = new { identifier = FakeBluesky.Handle, appPassword = AppPassword },
        });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private static async Task<string> UploadPngAsync(HttpClient client, int size)
    {
        var content = new byte[size];
        byte[] signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52];
        signature.CopyTo(content, 0);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", "photo.png");
        var response = await client.PostAsync("/v1/media", form);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private async Task<string> StoredCredentialsAsync(string accountId)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT credentials FROM scheduling.social_accounts WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", accountId);
        var stored = (byte[])(await command.ExecuteScalarAsync())!;
        return factory.Services.GetRequiredService<SocialAccounts>().CredentialsJson(accountId, stored);
    }

    private async Task<long> CountAccountsAsync(string workspace)
    {
        await using var connection = new NpgsqlConnection(factory.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM scheduling.social_accounts WHERE workspace_id = @workspace", connection);
        command.Parameters.AddWithValue("workspace", workspace);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
