using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 14, finding 3 (SSRF through the Mastodon connector), through the real processes: the scheduling service and the
/// publisher run with a production Outbound policy except that http and 127.0.0.2 are allowed — 127.0.0.2 stands in for
/// a public Mastodon instance, and 127.0.0.1 for the internal service that must never be reached.
/// </summary>
public sealed class OutboundAddressTests(OutboundAddressTests.OutboundStack stack) : IClassFixture<OutboundAddressTests.OutboundStack>, IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string Secret = "AccessKeyId ASIA-INTERNAL-SECRET";

    public sealed class OutboundStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service is "scheduling" or "publisher")
            {
                environment["Outbound__AllowHttp"] = "true";
                environment["Outbound__AllowedNetworks__0"] = "127.0.0.2/32";
            }
        }
    }

    private readonly ConcurrentQueue<string> _internalRequests = new();
    private readonly ConcurrentQueue<string> _instanceRequests = new();
    private WebApplication _internal = null!;
    private WebApplication _instance = null!;
    private Uri _internalUrl = null!;
    private Uri _instanceUrl = null!;

    public async Task InitializeAsync()
    {
        (_internal, _internalUrl) = await LoopbackHost.StartAsync(app => app.Run(async context =>
        {
            _internalRequests.Enqueue($"{context.Request.Method} {context.Request.Path}");
            await context.Response.WriteAsync(Secret);
        }));
        // The instance answers by the account's token: a redirect to the internal service, or an error page carrying a secret.
        (_instance, _instanceUrl) = await LoopbackHost.StartAsync(IPAddress.Parse("127.0.0.2"), app => app.Run(async context =>
        {
            _instanceRequests.Enqueue($"{context.Request.Method} {context.Request.Path}");
            if (context.Request.Headers.Authorization == "Bearer redirect")
            {
                context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
                context.Response.Headers.Location = new Uri(_internalUrl, context.Request.Path).ToString();
                return;
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.ContentType = "text/html";
            await context.Response.WriteAsync($"<html><body>{Secret}</body></html>");
        }));
    }

    public async Task DisposeAsync()
    {
        await _instance.DisposeAsync();
        await _internal.DisposeAsync();
    }

    [Fact]
    public async Task An_instance_url_on_a_loopback_private_or_metadata_address_is_refused_when_connecting_and_nothing_is_stored()
    {
        string[] refused =
        [
            _internalUrl.ToString(),
            $"http://localhost:{_internalUrl.Port}",
            $"http://[::ffff:127.0.0.1]:{_internalUrl.Port}",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1",
        ];
        string handle = $"ssrf-{Guid.NewGuid():N}";
        foreach (string instanceUrl in refused)
        {
            var response = await stack.Gateway.PostAsJsonAsync("/v1/social-accounts", new
            {
                platform = "mastodon",
                handle,
                credentials = new { instanceUrl, accessToken = "token" },
            });

            var error = await response.AssertEnvelopeAsync(HttpStatusCode.UnprocessableEntity, "VALIDATION");
            Assert.Equal("credentials.instanceUrl", error.GetProperty("details").GetProperty("issues")[0].GetProperty("path").GetString());
        }

        var accounts = (await stack.Gateway.GetFromJsonAsync<JsonObject>("/v1/social-accounts"))!["data"]!.AsArray();
        Assert.DoesNotContain(accounts, a => a!["handle"]!.GetValue<string>() == handle);
        Assert.Equal("0", await stack.ScalarAsync($"SELECT count(*) FROM scheduling.social_accounts WHERE handle = '{handle}'"));
        Assert.Empty(_internalRequests);
    }

    [Fact]
    public async Task A_redirect_to_an_internal_address_fails_the_target_and_never_reaches_it()
    {
        var target = await PublishThroughInstanceAsync("redirect");

        Assert.Empty(_internalRequests);
        Assert.Contains("POST /api/v1/statuses", _instanceRequests);
        Assert.Equal("REJECTED", target["errorCode"]!.GetValue<string>());
        Assert.Contains("redirect", target["errorMessage"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_error_page_is_never_echoed_into_the_targets_error_message()
    {
        var target = await PublishThroughInstanceAsync("leaky");

        string message = target["errorMessage"]!.GetValue<string>();
        Assert.DoesNotContain("SECRET", message, StringComparison.Ordinal);
        Assert.DoesNotContain("<html>", message, StringComparison.Ordinal);
        Assert.Equal("REJECTED", target["errorCode"]!.GetValue<string>());
        Assert.Contains("404 Not Found", message, StringComparison.Ordinal);
    }

    private async Task<JsonNode> PublishThroughInstanceAsync(string token)
    {
        var connected = await stack.Gateway.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "mastodon",
            handle = $"{token}-{Guid.NewGuid():N}",
            credentials = new { instanceUrl = _instanceUrl.ToString(), accessToken = token },
        });
        Assert.Equal(HttpStatusCode.Created, connected.StatusCode);
        string account = (await connected.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        string postId = (await stack.CreatePostAsync($"Hello {Guid.NewGuid()}", account, DateTimeOffset.UtcNow.AddSeconds(2)))["id"]!.GetValue<string>();

        var post = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["targets"]![0]!["status"]!.GetValue<string>() == "failed", Patience, "the target to fail");
        return post["targets"]![0]!;
    }
}
