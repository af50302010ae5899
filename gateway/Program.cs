using ScheduledPosts.Gateway;
using ScheduledPosts.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();
// Routing first: the body limit, the access control and the scope check all look at the matched endpoint.
app.UseRouting();
app.UseServiceDefaults(requireInternalIdentity: false);
app.UseGatewayAccessControl();
app.MapDefaultEndpoints();
app.MapGatewayEndpoints();
app.MapGatewayProxy();

await app.PrepareDatabaseAsync();
app.Run();
