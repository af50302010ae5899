using System.Collections.Concurrent;
using System.Net;
using MassTransit;
using MassTransit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;
using ScheduledPosts.Publisher.Publishing;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Publisher.Tests;

/// <summary>
/// Issue 14, finding 3 (SSRF through the Mastodon connector): the publisher as it is wired — its own Mastodon HttpClient
/// and SocketsHttpHandler, over real sockets — with the Outbound policy of a production install except that 127.0.0.2
/// is allow-listed (a stand-in for a public instance). 127.0.0.1 plays the internal service that must never be reached.
/// </summary>
public sealed class OutboundAddressTests : IAsyncLifetime
{
    private FakeScheduling _scheduling = null!;
    private Server _internal = null!;
    private Server _instance = null!;
    private WebApplicationFactory<TargetPublisher> _publisher = null!;

    public async Task InitializeAsync()
    {
        _scheduling = await FakeScheduling.StartAsync();
        _internal = await Server.StartAsync(IPAddress.Loopback, _ => Results.Text("ami-id: i-0123 internal secret"));
        _instance = await Server.StartAsync(IPAddress.Parse("127.0.0.2"), _ => Results.Json(new { id = "1", url = "https://instance.example/@alice/1" }));
        _publisher = new WebApplicationFactory<TargetPublisher>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Internal:SigningKeys:publisher", InternalKeys.Publisher.PrivatePem)
                .UseSetting("Scheduling:GrpcUrl", "http://scheduling.test")
                .UseSetting("Sandbox:BaseUrl", "http://sandbox.test")
                .UseSetting("Outbound:AllowHttp", "true")
                .UseSetting("Outbound:AllowLoopback", "false")
                .UseSetting("Outbound:AllowedNetworks:0", "127.0.0.2/32")
                .UseSetting("Mastodon:Timeout", "00:00:10");
            builder.ConfigureTestServices(services =>
            {
                services.AddMassTransitTestHarness();
                services.AddHttpClient(Extensions.SchedulingClient).ConfigurePrimaryHttpMessageHandler(_scheduling.CreateHandler);
            });
        });
    }

    public async Task DisposeAsync()
    {
        await _publisher.DisposeAsync();
        await _instance.DisposeAsync();
        await _internal.DisposeAsync();
        await _scheduling.DisposeAsync();
    }

    [Theory]
    [InlineData("http://127.0.0.1:{port}")]
    [InlineData("http://127.0.0.1:{port}/mastodon")]
    [InlineData("http://[::ffff:127.0.0.1]:{port}")]
    [InlineData("http://localhost:{port}")]
    [InlineData("http://169.254.169.254")]
    [InlineData("http://[fd00:ec2::254]")]
    [InlineData("http://10.0.0.1:{port}")]
    public async Task An_instance_on_a_loopback_private_or_metadata_address_is_refused_and_never_contacted(string instanceUrl)
    {
        var failed = await PublishAsync(instanceUrl.Replace("{port}", _internal.Port, StringComparison.Ordinal));

        Assert.Empty(_internal.Requests);
        Assert.Equal((ConnectorErrors.DestinationRefused, false), (failed.ErrorCode, failed.Retryable));
        Assert.Contains("loopback, private, link-local", failed.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(307)]
    [InlineData(308)]
    [InlineData(302)]
    public async Task A_redirect_to_an_internal_address_is_not_followed(int status)
    {
        _instance.Answer = context =>
        {
            context.Response.Headers.Location = $"http://127.0.0.1:{_internal.Port}{context.Request.Path}";
            return Results.StatusCode(status);
        };

        var failed = await PublishAsync($"http://127.0.0.2:{_instance.Port}");

        Assert.Empty(_internal.Requests);
        Assert.Single(_instance.Requests);
        Assert.Equal((ConnectorErrors.Rejected, false), (failed.ErrorCode, failed.Retryable));
        Assert.Contains("redirect", failed.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500, "text/html")]
    [InlineData(502, "application/json")]
    [InlineData(404, "text/plain")]
    [InlineData(403, "text/plain")]
    public async Task A_failed_response_body_is_never_echoed(int status, string contentType)
    {
        const string Body = "<html>ami-id: i-0123 AccessKeyId: ASIA-SECRET-KEY internal page</html>";
        _instance.Answer = _ => Results.Text(Body, contentType, statusCode: status);

        var failed = await PublishAsync($"http://127.0.0.2:{_instance.Port}");

        Assert.DoesNotContain("SECRET", failed.ErrorMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("ami-id", failed.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains($"({status} ", failed.ErrorMessage, StringComparison.Ordinal);
        Assert.True(failed.ErrorMessage.Length <= 300, failed.ErrorMessage);
    }

    [Fact]
    public async Task The_platforms_json_error_is_shown_short_and_without_control_characters()
    {
        string error = "Validation failed:\r\nText\u0000 can't be blank\u001b[31m " + new string('x', 1_000);
        _instance.Answer = _ => Results.Json(new { error }, statusCode: 422);

        var failed = await PublishAsync($"http://127.0.0.2:{_instance.Port}");

        Assert.Equal(ConnectorErrors.Rejected, failed.ErrorCode);
        Assert.Contains("(422 Unprocessable Entity: Validation failed: Text can't be blank [31m xxx", failed.ErrorMessage, StringComparison.Ordinal);
        Assert.DoesNotContain(failed.ErrorMessage, char.IsControl);
        Assert.True(failed.ErrorMessage.Length <= 300, failed.ErrorMessage);
    }

    [Fact]
    public async Task An_allowed_instance_is_posted_to()
    {
        var request = await CompleteAsync($"http://127.0.0.2:{_instance.Port}");

        Assert.Equal("1", request.Published?.ExternalPostId);
        Assert.Equal("/api/v1/statuses", Assert.Single(_instance.Requests));
    }

    private async Task<TargetFailed> PublishAsync(string instanceUrl)
    {
        var completion = await CompleteAsync(instanceUrl);
        Assert.NotNull(completion.Failed);
        return completion.Failed;
    }

    private async Task<CompleteTargetRequest> CompleteAsync(string instanceUrl)
    {
        _scheduling.Targets.OnClaim = r =>
        {
            var granted = FakeTargetsService.Granted(r, Platforms.Mastodon, "alice", "Hello");
            granted.Target.CredentialsJson = System.Text.Json.JsonSerializer.Serialize(new { instanceUrl, accessToken = "token" });
            return granted;
        };
        await _publisher.Services.GetTestHarness().Bus.Publish(new TargetDue("post_1", "tgt_1", 1));
        await Eventually.Until(() => Task.FromResult(_scheduling.Targets.Completions.Count), n => n > 0, TimeSpan.FromSeconds(20), "the target's completion");
        return Assert.Single(_scheduling.Targets.Completions);
    }

    /// <summary>A real HTTP server on one loopback address that records the paths it is asked for and answers as told.</summary>
    private sealed class Server : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private Server(WebApplication app) => _app = app;

        public ConcurrentQueue<string> Requests { get; } = new();

        public Func<HttpContext, IResult> Answer { get; set; } = _ => Results.Ok();

        public string Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single())
            .Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        public static async Task<Server> StartAsync(IPAddress address, Func<HttpContext, IResult> answer)
        {
            var builder = WebApplication.CreateSlimBuilder();
            // The publisher's appsettings.json is copied next to the tests; its Kestrel endpoints are not this server's.
            builder.Configuration.Sources.Clear();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(address, 0));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var server = new Server(app) { Answer = answer };
            app.Run(async context =>
            {
                server.Requests.Enqueue(context.Request.Path);
                await server.Answer(context).ExecuteAsync(context);
            });
            await app.StartAsync();
            return server;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
