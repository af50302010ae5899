using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// The whole suite as separate processes on free ports — gateway, scheduling, publisher, webhooks and the
/// sandbox platform — over a fresh database and RabbitMQ virtual host. Tests talk to it only through the
/// gateway's REST API and the sandbox platform's record of what it received.
/// </summary>
public class Stack : IAsyncLifetime
{
    public const string BootstrapKey = Suite.BootstrapKey;
    public const string AdminToken = Suite.AdminToken;
    private Suite? _suite;

    /// <summary>Lets a test class change a service's settings before the stack starts.</summary>
    protected virtual void Configure(string service, Dictionary<string, string> environment)
    {
    }

    public HttpClient Gateway { get; private set; } = null!;

    /// <summary>The gateway's <c>/openapi.json</c>, which every answer through <see cref="NewGatewayClient"/> must match.</summary>
    public OpenApiContract Contract { get; private set; } = null!;

    /// <summary>A client of the gateway, without credentials, whose every answer is checked against <see cref="Contract"/>.</summary>
    public HttpClient NewGatewayClient() => new(new ContractCheckingHandler(Contract)) { BaseAddress = _suite!.GatewayUrl };
    /// <summary>The gateway's gRPC port (h2c), for internal callers.</summary>
    public Uri GatewayGrpcUrl => _suite!.GrpcUrl("gateway");

    public HttpClient Sandbox { get; private set; } = null!;
    public WebhookReceiver Receiver { get; private set; } = null!;
    public string PostgresConnectionString => _suite!.PostgresConnectionString;

    /// <summary>The RabbitMQ server and virtual host the services use, e.g. to look at a queue through the management API.</summary>
    public RabbitMqServer RabbitMq => _suite!.RabbitMq;

    public string VirtualHost => _suite!.VirtualHost;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task InitializeAsync()
    {
        _suite = await Suite.StartAsync(Configure);
        Contract = await OpenApiContract.LoadAsync(_suite.GatewayUrl);
        Gateway = NewGatewayClient();
        Gateway.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BootstrapKey);
        Sandbox = new HttpClient { BaseAddress = _suite.SandboxUrl };
        Receiver = await WebhookReceiver.StartAsync();
    }

    public ServiceProcess this[string name] => _suite![name];

    /// <summary>Everything the services printed, to explain a failure.</summary>
    public string Logs => _suite!.Logs;

    public async Task<string> ConnectSandboxAccountAsync(string handle)
    {
        var response = await Gateway.PostAsJsonAsync("/v1/social-accounts", new { platform = "sandbox", handle });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    public Task<JsonObject> CreatePostAsync(string caption, string accountId, DateTimeOffset scheduledFor)
        => CreatePostAsync(caption, [accountId], scheduledFor);

    public async Task<JsonObject> GetPostAsync(string id)
    {
        var response = await Gateway.GetAsync($"/v1/posts/{id}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public sealed record SandboxStatus(string Id, string Account, string Status, string? IdempotencyKey, DateTimeOffset ReceivedAt, DateTimeOffset? DeletedAt = null);

    public async Task<List<SandboxStatus>> SandboxStatusesAsync()
        => (await Sandbox.GetFromJsonAsync<List<SandboxStatus>>("/sandbox/statuses", Json))!;

    public async Task<string> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    public async Task<HttpResponseMessage> InjectFaultAsync(object fault)
    {
        var response = await Sandbox.PostAsJsonAsync("/sandbox/faults", fault);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return response;
    }

    public async Task<JsonObject> CreatePostAsync(string caption, IEnumerable<string> accountIds, DateTimeOffset scheduledFor)
    {
        var response = await Gateway.PostAsJsonAsync("/v1/posts", new
        {
            caption,
            targets = accountIds.Select(a => new { socialAccountId = a }).ToArray(),
            scheduledFor = scheduledFor.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public async Task DisposeAsync()
    {
        if (Contract is not null)
        {
            // How much the contract check saw, per test class: the figure issue 21's note quotes.
            await File.AppendAllTextAsync(Path.Combine(Path.GetTempPath(), "sp-contract-checks.log"),
                $"{DateTimeOffset.UtcNow:O} {GetType().Name}: {Contract.Checked} answers checked against /openapi.json{Environment.NewLine}");
        }

        Gateway?.Dispose();
        Sandbox?.Dispose();
        if (Receiver is not null)
        {
            await Receiver.DisposeAsync();
        }

        if (_suite is not null)
        {
            await _suite.DisposeAsync();
        }
    }
}
